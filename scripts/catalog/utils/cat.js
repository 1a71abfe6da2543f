// whisk.system/utils/cat: joins params.lines (an array) with newlines:
// { lines: <the array>, payload: <the joined text> }.
function main(params) {
  const lines = Array.isArray(params.lines) ? params.lines : [];
  return { lines: lines, payload: lines.join('\n') };
}
