export async function run(): Promise<number> {
  process.stderr.write('handoff dev: not built yet\n');
  return 1;
}
