/**
 * MIME renderers for the compliance and energy results. They rank ahead of
 * the `text/html` fallback the Python package also sends, and are safe for
 * untrusted notebooks: they build DOM from data, never run or inject HTML.
 */

import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Widget } from '@lumino/widgets';

import { COMPLIANCE_MIME, readCompliance, renderCompliance } from './compliance';
import { ENERGY_MIME, readMonitor, renderMonitor } from './energy';

type Render = (model: IRenderMime.IMimeModel) => HTMLElement;

class ResultRenderer extends Widget implements IRenderMime.IRenderer {
  constructor(
    private readonly mimeType: string,
    private readonly render: Render
  ) {
    super();
    this.addClass('vl-rendered');
  }

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    this.node.replaceChildren();
    try {
      this.node.append(this.render(model));
    } catch (error) {
      // A malformed bundle says so in the output instead of showing nothing.
      const message = document.createElement('pre');
      message.className = 'vl-render-error';
      message.textContent = `Venturalitica could not show ${this.mimeType}: ${(error as Error).message}`;
      this.node.append(message);
    }
  }
}

const renderComplianceModel: Render = model => {
  const svg = model.data['image/svg+xml'];
  return renderCompliance(readCompliance(model.data[COMPLIANCE_MIME]), typeof svg === 'string' ? svg : null);
};

const renderEnergyModel: Render = model => renderMonitor(readMonitor(model.data[ENERGY_MIME]));

function factory(mimeType: string, render: Render): IRenderMime.IRendererFactory {
  return {
    safe: true,
    mimeTypes: [mimeType],
    defaultRank: 0,
    createRenderer: () => new ResultRenderer(mimeType, render)
  };
}

const extensions: IRenderMime.IExtension[] = [
  {
    id: 'venturalitica-jupyterlab:compliance',
    description: 'Renders Venturalitica compliance results',
    rendererFactory: factory(COMPLIANCE_MIME, renderComplianceModel),
    rank: 0,
    dataType: 'json'
  },
  {
    id: 'venturalitica-jupyterlab:energy',
    description: 'Renders Venturalitica energy (monitor) results',
    rendererFactory: factory(ENERGY_MIME, renderEnergyModel),
    rank: 0,
    dataType: 'json'
  }
];

export default extensions;
