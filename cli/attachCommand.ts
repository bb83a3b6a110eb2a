export async function run(): Promise<number> {
  process.stderr.write('handoff attach: not built yet\n');
  return 1;
}
