// whisk.system/utils/split: splits params.payload (a string) on params.separator
// (default a newline): { lines: [...] }.
function main(params) {
  const text = typeof params.payload === 'string' ? params.payload : '';
  const sep = typeof params.separator === 'string' ? params.separator : '\n';
  return { lines: text.length ? text.split(sep) : [] };
}
