import { Signal } from '@lumino/signaling';
import { describe, expect, it } from 'vitest';

import { ReplyCapture } from '../src/capture';
import { PROXY_RECORD } from './fixtures';

/** Just enough of a kernel, a session context and a notebook model. */
class FakeKernel {
  readonly anyMessage = new Signal<FakeKernel, { msg: unknown; direction: 'send' | 'recv' }>(this);

  send(msgId: string, cellId: string): void {
    this.anyMessage.emit({
      direction: 'send',
      msg: { header: { msg_type: 'execute_request', msg_id: msgId }, parent_header: {}, metadata: { cellId } }
    });
  }

  reply(parentId: string, metadata: Record<string, unknown>): void {
    this.anyMessage.emit({
      direction: 'recv',
      msg: {
        header: { msg_type: 'execute_reply', msg_id: `r-${parentId}` },
        parent_header: { msg_id: parentId },
        metadata
      }
    });
  }
}

class FakeCell {
  readonly metadata = new Map<string, unknown>();
  constructor(readonly id: string) {}
  setMetadata(key: string, value: unknown): void {
    this.metadata.set(key, value);
  }
}

function notebook(kernel: FakeKernel, cells: FakeCell[]) {
  const kernelChanged = new Signal<unknown, { newValue: FakeKernel | null }>({});
  const panel = {
    sessionContext: { kernelChanged, session: { kernel } },
    content: { model: { cells } }
  };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return { capture: new ReplyCapture(panel as any), kernelChanged };
}

describe('ReplyCapture', () => {
  it('stores the reply record in the cell the proxy names', () => {
    const kernel = new FakeKernel();
    const cells = [new FakeCell('a'), new FakeCell('c0ffee')];
    notebook(kernel, cells);
    kernel.reply('m1', { venturalitica: PROXY_RECORD });
    expect(cells[1].metadata.get('venturalitica')).toBe(PROXY_RECORD);
    expect(cells[0].metadata.size).toBe(0);
  });

  it('falls back to the cell id the request carried', () => {
    const kernel = new FakeKernel();
    const cells = [new FakeCell('a'), new FakeCell('b')];
    notebook(kernel, cells);
    kernel.send('m2', 'a');
    kernel.reply('m2', { venturalitica: { ...PROXY_RECORD, cell_id: null } });
    expect((cells[0].metadata.get('venturalitica') as { msg_id: string }).msg_id).toBe(PROXY_RECORD.msg_id);
  });

  it('ignores replies from plain kernels and records it cannot read', () => {
    const kernel = new FakeKernel();
    const cells = [new FakeCell('c0ffee')];
    notebook(kernel, cells);
    kernel.reply('m3', {});
    kernel.reply('m4', { venturalitica: { ...PROXY_RECORD, status: 'exploded' } });
    expect(cells[0].metadata.size).toBe(0);
  });

  it('follows the kernel after a change, and stops when disposed', () => {
    const first = new FakeKernel();
    const second = new FakeKernel();
    const cells = [new FakeCell('c0ffee')];
    const { capture, kernelChanged } = notebook(first, cells);
    kernelChanged.emit({ newValue: second });
    first.reply('m5', { venturalitica: PROXY_RECORD });
    expect(cells[0].metadata.size).toBe(0);
    second.reply('m6', { venturalitica: PROXY_RECORD });
    expect(cells[0].metadata.size).toBe(1);
    capture.dispose();
    cells[0].metadata.clear();
    second.reply('m7', { venturalitica: PROXY_RECORD });
    expect(cells[0].metadata.size).toBe(0);
  });
});
