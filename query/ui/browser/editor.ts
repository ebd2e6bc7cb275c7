import {
  autocompletion,
  closeBrackets,
  closeBracketsKeymap,
  completionKeymap,
  completionStatus,
} from '@codemirror/autocomplete';
import { defaultKeymap, history, historyKeymap, insertNewlineAndIndent } from '@codemirror/commands';
import { bracketMatching, defaultHighlightStyle, syntaxHighlighting } from '@codemirror/language';
import { EditorState, Prec } from '@codemirror/state';
import { EditorView, keymap, placeholder } from '@codemirror/view';
import { PromQLExtension } from '@prometheus-io/codemirror-promql';

/**
 * The PromQL field: CodeMirror 6 with the Prometheus project's PromQL extension, which
 * highlights, lints, and completes functions, metric names, label names and label values from
 * the service's own API (`/api/v1/labels`, `/api/v1/label/<name>/values`, `/api/v1/series`,
 * `/api/v1/metadata`). Enter runs the query; Shift-Enter breaks the line.
 */
export function promqlEditor(parent: HTMLElement, base: string, doc: string, run: () => void): EditorView {
  const promql = new PromQLExtension().setComplete({
    remote: {
      url: base,
      // GET: every Prometheus-compatible server has it; POST on /labels and /series is newer.
      httpMethod: 'GET',
      cache: { maxAge: 60_000 },
    },
  });
  const runQuery = (view: EditorView): boolean => {
    // While the completion list is open, Enter picks from it.
    if (completionStatus(view.state) === 'active') return false;
    run();
    return true;
  };
  const runKeys = Prec.highest(
    keymap.of([
      { key: 'Enter', run: runQuery },
      { key: 'Mod-Enter', run: runQuery },
      { key: 'Shift-Enter', run: insertNewlineAndIndent },
    ]),
  );
  return new EditorView({
    parent,
    state: EditorState.create({
      doc,
      extensions: [
        history(),
        closeBrackets(),
        bracketMatching(),
        autocompletion({ activateOnTyping: true }),
        keymap.of([...completionKeymap, ...closeBracketsKeymap, ...defaultKeymap, ...historyKeymap]),
        runKeys,
        syntaxHighlighting(defaultHighlightStyle),
        placeholder('PromQL, e.g. rate(http_requests_total[5m])'),
        EditorView.lineWrapping,
        promql.asExtension(),
      ],
    }),
  });
}
