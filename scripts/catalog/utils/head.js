// whisk.system/utils/head: the first params.num (default 1) entries of params.lines.
function main(params) {
  const lines = Array.isArray(params.lines) ? params.lines : [];
  const num = Number.isInteger(params.num) && params.num >= 0 ? params.num : 1;
  const head = lines.slice(0, num);
  return { lines: head, num: head.length };
}
