import { COMMANDS, DESCRIPTION, EXAMPLES, GLOBAL_OPTIONS } from './command-table.js';

/**
 * `regctl --help` without loading commander (~15-20 ms of start-up): the same text commander
 * prints for the program, built from the command table with commander's layout rules (terms
 * padded to the longest, descriptions wrapped at whitespace to the help width, no wrapping
 * when less than 40 columns remain). test/cli/help.test.ts compares the two at several widths.
 */
export function renderHelp(width = 80): string {
  const options = GLOBAL_OPTIONS.map(([flags, text]) => [flags, text] as const);
  const commands = [...COMMANDS.map((c) => [c.term, c.summary] as const), ['help [command]', 'display help for command'] as const];
  const termWidth = Math.max(...options.map(([t]) => t.length), ...commands.map(([t]) => t.length));
  const item = ([term, text]: readonly [string, string]): string => {
    const remaining = width - termWidth - 4;
    const body = remaining < MIN_WRAP ? text : boxWrap(text, remaining).replace(/\n/g, `\n${' '.repeat(termWidth + 2)}`);
    return `  ${term.padEnd(termWidth)}  ${body.replace(/\n/g, '\n  ')}`;
  };
  const lines = [
    'Usage: regctl [options] [command]',
    '',
    boxWrap(DESCRIPTION, width),
    '',
    'Options:',
    ...options.map(item),
    '',
    'Commands:',
    ...commands.map(item),
    '',
  ];
  return `${lines.join('\n')}${EXAMPLES}\n`;
}

const MIN_WRAP = 40;

/** Wrap at whitespace to `width` columns (a word longer than the width stays whole). */
function boxWrap(text: string, width: number): string {
  if (width < MIN_WRAP) return text;
  const out: string[] = [];
  for (const line of text.split(/\r\n|\n/)) {
    const chunks = line.match(/\s*\S+/g);
    if (!chunks) {
      out.push('');
      continue;
    }
    let current = chunks.shift()!;
    for (const chunk of chunks) {
      if (current.length + chunk.length <= width) current += chunk;
      else {
        out.push(current);
        current = chunk.trimStart();
      }
    }
    out.push(current);
  }
  return out.join('\n');
}
