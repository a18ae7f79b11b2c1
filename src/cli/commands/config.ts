import type { CliContext } from '../context.js';
import { configFilePath, readConfigFile } from '../config-file.js';

/** `krill config`: the defaults in effect and where the config file is (never a secret). */
export async function execute(ctx: CliContext): Promise<void> {
  const file = await readConfigFile(ctx.io.env);
  const info = {
    configFile: configFilePath(ctx.io.env),
    found: file !== undefined,
    registry: ctx.krill.defaultRegistry()?.host ?? 'docker.io',
    concurrency: ctx.options.concurrency,
    timeoutMs: ctx.options.timeout,
    caCert: ctx.options.caCert ?? null,
    ledger: ctx.krill.ledgerLocation(),
    dockerConfig: ctx.io.env.DOCKER_CONFIG ?? '~/.docker',
  };
  if (ctx.options.json) {
    ctx.io.out(`${JSON.stringify(info, null, 2)}\n`);
    return;
  }
  ctx.io.out(
    [
      `config file:    ${info.configFile}${info.found ? '' : ' (none)'}`,
      `registry:       ${info.registry}`,
      `concurrency:    ${info.concurrency}`,
      `timeout:        ${info.timeoutMs / 1000}s`,
      `ca-cert:        ${info.caCert ?? '-'}`,
      `ledger:         ${info.ledger}`,
      `docker config:  ${info.dockerConfig}`,
    ].join('\n') + '\n',
  );
}
