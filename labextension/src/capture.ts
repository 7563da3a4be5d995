/**
 * Takes `metadata.venturalitica` off each `execute_reply` a notebook's kernel
 * sends and stores it in the cell's metadata, so it is saved in the `.ipynb`
 * (the way jupyterlab-execute-time keeps timings). A plain kernel sends no
 * such metadata and nothing happens.
 */

import type { NotebookPanel } from '@jupyterlab/notebook';
import type { Kernel, KernelMessage } from '@jupyterlab/services';
import type { IDisposable } from '@lumino/disposable';

import { METADATA_KEY, parseCellTrace } from './trace';

/** How many request→cell entries to remember for replies without a cell id. */
const PENDING_LIMIT = 1000;

export class ReplyCapture implements IDisposable {
  private kernel: Kernel.IKernelConnection | null = null;
  /** execute_request msg_id → the cell id JupyterLab sent with it. */
  private readonly pending = new Map<string, string>();
  private disposed = false;

  constructor(private readonly panel: NotebookPanel) {
    panel.sessionContext.kernelChanged.connect(this.onKernelChanged, this);
    this.watch(panel.sessionContext.session?.kernel ?? null);
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  dispose(): void {
    if (this.disposed) {
      return;
    }
    this.disposed = true;
    this.watch(null);
    this.panel.sessionContext.kernelChanged.disconnect(this.onKernelChanged, this);
  }

  private onKernelChanged(_: unknown, change: { newValue: Kernel.IKernelConnection | null }): void {
    this.watch(change.newValue);
  }

  private watch(kernel: Kernel.IKernelConnection | null): void {
    this.kernel?.anyMessage.disconnect(this.onMessage, this);
    this.pending.clear();
    this.kernel = kernel;
    kernel?.anyMessage.connect(this.onMessage, this);
  }

  private onMessage(_: Kernel.IKernelConnection, args: Kernel.IAnyMessageArgs): void {
    const { msg, direction } = args;
    if (direction === 'send' && msg.header.msg_type === 'execute_request') {
      const cellId = (msg.metadata as { cellId?: unknown }).cellId;
      if (typeof cellId === 'string') {
        if (this.pending.size >= PENDING_LIMIT) {
          const oldest = this.pending.keys().next().value;
          if (oldest !== undefined) {
            this.pending.delete(oldest);
          }
        }
        this.pending.set(msg.header.msg_id, cellId);
      }
      return;
    }
    if (direction !== 'recv' || msg.header.msg_type !== 'execute_reply') {
      return;
    }
    const parentId = (msg.parent_header as Partial<KernelMessage.IHeader>).msg_id;
    const requested = parentId === undefined ? undefined : this.pending.get(parentId);
    if (parentId !== undefined) {
      this.pending.delete(parentId);
    }
    const trace = parseCellTrace((msg.metadata as Record<string, unknown>)[METADATA_KEY]);
    if (!trace) {
      return;
    }
    const cellId = trace.cell_id ?? requested;
    const model = this.panel.content.model;
    if (!cellId || !model) {
      return;
    }
    for (const cell of model.cells) {
      if (cell.id === cellId) {
        // The raw record is stored, not our parsed view of it: the .ipynb
        // keeps exactly what the agent said.
        cell.setMetadata(METADATA_KEY, (msg.metadata as Record<string, unknown>)[METADATA_KEY]);
        return;
      }
    }
  }
}
