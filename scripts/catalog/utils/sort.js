// whisk.system/utils/sort: sorts params.lines (an array of strings) and returns
// { lines: <sorted>, length: <count> }.
function main(params) {
  const lines = Array.isArray(params.lines) ? params.lines.slice() : [];
  lines.sort();
  return { lines: lines, length: lines.length };
}
