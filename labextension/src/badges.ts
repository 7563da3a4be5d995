/**
 * Keeps one badge per code cell of a notebook, drawn from the record in the
 * cell's metadata, and tells listeners when the notebook's totals or latest
 * policy result may have changed.
 */

import type { Cell, ICellModel, ICodeCellModel } from '@jupyterlab/cells';
import type { NotebookPanel } from '@jupyterlab/notebook';
import type { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { renderBadge } from './badge';
import { COMPLIANCE_MIME } from './compliance';
import type { Settings } from './settings';
import { CellTrace, METADATA_KEY, parseCellTrace } from './trace';

/** How often, at most, listeners hear that totals may have changed. */
const NOTIFY_MS = 200;

function isCodeCellModel(model: ICellModel): model is ICodeCellModel {
  return model.type === 'code';
}

/** The policy verdict of the most recently executed cell that shows one. */
export type PolicyStatus = 'passed' | 'failed' | null;

export class NotebookBadges implements IDisposable {
  private readonly nodes = new Map<Cell, HTMLElement>();
  private readonly watched = new Set<Cell>();
  private readonly _changed = new Signal<this, void>(this);
  private disposed = false;
  private pending: ReturnType<typeof setTimeout> | null = null;

  constructor(
    readonly panel: NotebookPanel,
    private settings: Settings
  ) {
    panel.content.model?.cells.changed.connect(this.sync, this);
    this.sync();
  }

  /** Emitted when any cell's record or outputs change. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  dispose(): void {
    if (this.disposed) {
      return;
    }
    this.disposed = true;
    if (this.pending !== null) {
      clearTimeout(this.pending);
    }
    this.panel.content.model?.cells.changed.disconnect(this.sync, this);
    for (const cell of this.watched) {
      this.unwatch(cell);
    }
    Signal.clearData(this);
  }

  updateSettings(settings: Settings): void {
    this.settings = settings;
    for (const cell of this.watched) {
      this.draw(cell);
    }
  }

  /** Every cell's record, in notebook order. */
  traces(): CellTrace[] {
    const traces: CellTrace[] = [];
    for (const cell of this.panel.content.model?.cells ?? []) {
      const trace = parseCellTrace(cell.getMetadata(METADATA_KEY));
      if (trace) {
        traces.push(trace);
      }
    }
    return traces;
  }

  /** The verdict shown by the cell with the highest execution count. */
  latestPolicy(): PolicyStatus {
    let latest: { count: number; passed: boolean } | null = null;
    for (const cell of this.panel.content.model?.cells ?? []) {
      if (!isCodeCellModel(cell)) {
        continue;
      }
      const count = cell.executionCount ?? 0;
      for (let i = 0; i < cell.outputs.length; i++) {
        const data = cell.outputs.get(i).data[COMPLIANCE_MIME];
        const passed = (data as { passed?: unknown } | undefined)?.passed;
        if (typeof passed === 'boolean' && (latest === null || count >= latest.count)) {
          latest = { count, passed };
        }
      }
    }
    return latest === null ? null : latest.passed ? 'passed' : 'failed';
  }

  /** Starts watching new cells, stops watching removed ones. */
  private sync(): void {
    const current = new Set(this.panel.content.widgets);
    for (const cell of this.watched) {
      if (!current.has(cell)) {
        this.unwatch(cell);
      }
    }
    for (const cell of current) {
      if (isCodeCellModel(cell.model) && !this.watched.has(cell)) {
        this.watch(cell);
      }
    }
    this.notify();
  }

  private watch(cell: Cell): void {
    this.watched.add(cell);
    cell.model.metadataChanged.connect(this.onMetadata, this);
    if (isCodeCellModel(cell.model)) {
      cell.model.outputs.changed.connect(this.onOutputs, this);
    }
    cell.disposed.connect(this.onCellDisposed, this);
    // Cells outside the viewport are built lazily; their input area exists
    // only once they are ready.
    void cell.ready.then(() => this.draw(cell));
  }

  private unwatch(cell: Cell): void {
    this.watched.delete(cell);
    this.nodes.get(cell)?.remove();
    this.nodes.delete(cell);
    if (!cell.isDisposed) {
      cell.model.metadataChanged.disconnect(this.onMetadata, this);
      if (isCodeCellModel(cell.model)) {
        cell.model.outputs.changed.disconnect(this.onOutputs, this);
      }
      cell.disposed.disconnect(this.onCellDisposed, this);
    }
  }

  private onCellDisposed(cell: Cell): void {
    this.watched.delete(cell);
    this.nodes.delete(cell);
  }

  private onMetadata(model: ICellModel, change: { key: string }): void {
    if (change.key !== METADATA_KEY) {
      return;
    }
    for (const cell of this.watched) {
      if (cell.model === model) {
        this.draw(cell);
      }
    }
    this.notify();
  }

  private onOutputs(): void {
    this.notify();
  }

  /**
   * Emits `changed` at most every NOTIFY_MS: a cell streaming thousands of
   * outputs must not recompute the notebook's totals for each one.
   */
  private notify(): void {
    if (this.pending === null) {
      this.pending = setTimeout(() => {
        this.pending = null;
        if (!this.disposed) {
          this._changed.emit();
        }
      }, NOTIFY_MS);
    }
  }

  /** Replaces the cell's badge with one for its current record and settings. */
  private draw(cell: Cell): void {
    if (this.disposed || cell.isDisposed || !this.watched.has(cell)) {
      return;
    }
    this.nodes.get(cell)?.remove();
    this.nodes.delete(cell);
    const trace = parseCellTrace(cell.model.getMetadata(METADATA_KEY));
    if (!trace || !this.settings.showBadges) {
      return;
    }
    const node = renderBadge(trace, this.settings);
    const inputWrapper = cell.inputArea?.node.parentElement;
    if (this.settings.badgePosition === 'below-input' && inputWrapper) {
      inputWrapper.after(node);
    } else {
      cell.node.append(node);
    }
    this.nodes.set(cell, node);
  }
}
