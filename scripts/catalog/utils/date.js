// whisk.system/utils/date: the current date and time, ISO 8601 in UTC.
function main() {
  return { date: new Date().toISOString() };
}
