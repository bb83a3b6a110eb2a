export async function run(): Promise<number> {
  process.stderr.write('handoff agent: not built yet\n');
  return 1;
}
