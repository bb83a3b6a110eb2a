export async function run(): Promise<number> {
  process.stderr.write('handoff run: not built yet\n');
  return 1;
}
