import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { parseDuration } from '../duration.js';
import { AbortedError, AuthError, JournalError, KrillError, TlsError } from '../errors.js';
import { escapeControl } from '../text.js';
import { readConfigFile } from './config-file.js';
import type { CliContext, GlobalOptions, Io } from './context.js';

/**
 * The CLI entry: declares commands and global options, loads each command's module only when it
 * runs (so `krill --version` stays close to `node -e 0`), and is the one place that exits.
 */

export function parseIntegerOption(name: string, min: number, max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value.trim()))
      throw new InvalidArgumentError(`${name} must be a whole number between ${min} and ${max}`);
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`${name} must be between ${min} and ${max}`);
    return n;
  };
}

/** `--timeout`: the one duration grammar (`30s`, `2m`, `500ms`), or plain seconds as before. */
export function parseTimeout(value: string): number {
  let ms: number;
  try {
    ms = /^\s*\d+\s*$/.test(value) ? Number(value) * 1000 : parseDuration(value, '--timeout');
  } catch {
    throw new InvalidArgumentError('expected a duration such as 30s, 2m or 500ms');
  }
  if (ms < 100) throw new InvalidArgumentError('must be at least 100ms');
  return ms;
}

/** Set by the standalone binary's bundler (scripts/build-binary.mjs): no package.json travels with it. */
declare const __KRILL_VERSION__: string | undefined;

function version(): string {
  if (typeof __KRILL_VERSION__ === 'string') return __KRILL_VERSION__;
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

const GLOBAL_HELP = `
Registry and credentials:
  A reference is HOST[:PORT]/REPO[:TAG|@DIGEST], or REPO[:TAG] on the default registry:
  --registry, else $KRILL_REGISTRY ($REGISTRY_CLI_HOSTNAME, $REGISTRY), else Docker Hub.
  Credentials: --username with --password-stdin, else $KRILL_USERNAME/$KRILL_PASSWORD,
  else ~/.docker/config.json (credential helpers included), else anonymous.

Examples:
  $ krill tags alpine                              # Docker Hub, anonymous
  $ krill repos registry.example.com
  $ krill tags -r registry.example.com apps/web --limit 10
  $ echo "$TOKEN" | krill -u ci --password-stdin inspect registry.example.com/apps/web:1.2.0

krill --version prints the version.
Exit codes: 0 success, 1 operation failed, 2 bad usage (nothing was sent), 130 interrupted.
`;

export function buildProgram(
  run: (cmd: Command, load: () => Promise<CommandModule>, args: unknown[]) => Promise<void>,
  io: Io,
): Command {
  const program = new Command('krill')
    // Set before subcommands are added: they inherit these settings when created.
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.out(text),
      writeErr: (text) => io.err(text),
      // One line: commander puts "(Did you mean …?)" on a line of its own.
      outputError: (text, write) => {
        const line = text
          .replace(/^error: /, '')
          .trim()
          .replace(/\s*\n\s*/g, ' ');
        // `--exclude -rc`: commander takes -rc for an option. Say how to pass such a value.
        const missing = /^option '(--[a-z-]+)[^']*' argument missing$/.exec(line);
        const hint = missing ? `; a value starting with - needs the = form: ${missing[1]}=-VALUE` : '';
        write(`krill: ${line}${hint} (see krill --help)\n`);
      },
    })
    .description('List, inspect and clean up images in Docker Registry v2 / OCI registries.')
    .helpOption('-h, --help', 'show help')
    .showSuggestionAfterError(true)
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .addHelpText('after', GLOBAL_HELP)
    .option('-r, --registry <host>', 'default registry for short references: host[:port] or URL (http:// = plain HTTP)')
    .option('-u, --username <user>', 'registry username')
    .option('-p, --password <password>', 'registry password (prefer --password-stdin)')
    .option('--password-stdin', 'read the password from standard input')
    .option('--ca-cert <file>', 'PEM file of CA certificates to trust')
    .option('--client-cert <file>', 'PEM client certificate (mutual TLS)')
    .option('--client-key <file>', 'PEM private key for --client-cert')
    .option('--insecure', 'do not verify TLS certificates')
    .option('--plain-http', 'use plain HTTP for registries without a scheme')
    .addOption(
      new Option('--concurrency <n>', 'requests in flight at most')
        .default(8)
        .argParser(parseIntegerOption('--concurrency', 1, 256)),
    )
    .addOption(
      new Option('--timeout <duration>', 'per-request timeout, e.g. 30s')
        .default(60_000, '60s')
        .argParser(parseTimeout),
    )
    .option('--json', 'machine-readable JSON on stdout')
    .option('-v, --verbose', 'log each request on stderr (credentials redacted)')
    .option('-q, --quiet', 'no notes (e.g. the garbage-collection hint); warnings and errors still show')
    .option('--no-color', 'no colors (also NO_COLOR)')
    .option('--no-cache', 'bypass the on-disk manifest cache');

  program
    .command('repos')
    .alias('catalog')
    .description('list the repositories of a registry (the catalog), sorted')
    .argument('[registry]', 'registry host[:port] or URL (default: --registry)')
    .addHelpText('after', '\nExamples:\n  $ krill repos registry.example.com\n  $ krill repos localhost:5000 --json\n')
    .action((...args: unknown[]) =>
      run(args.at(-1) as Command, () => import('./commands/repos.js'), args.slice(0, -2)),
    );

  program
    .command('tags')
    .alias('ls')
    .description('list the tags of a repository with digest, created date, size and platforms, newest first')
    .argument('<repository>', 'REPO or HOST/REPO')
    .addOption(
      new Option('--limit <n>', 'show at most N tags (the newest; with --no-details, the first N by name)').argParser(
        parseIntegerOption('--limit', 1, 1_000_000),
      ),
    )
    .option('--no-details', 'tag names only, sorted (one request per page: the fast path)')
    .option('--filter <regex>', 'only tags matching this regex (RE2 syntax)')
    .option('--exclude <regex>', 'leave out tags matching this regex (RE2 syntax)')
    .option('--no-trunc', 'show full digests in the table')
    .addOption(
      new Option(
        '-o, --output <format>',
        'table (fits 80 columns), wide (every platform), name (one reference per line)',
      ).choices(['table', 'wide', 'name']),
    )
    .option('--no-headers', 'no header row in the table')
    .option('--all', 'also list attachment tags (signatures, SBOMs: sha256-<hex>, sha256-<hex>.sig) as rows')
    .addHelpText(
      'after',
      '\nAttachment tags are summarised in a REFERRERS column on their image\'s row (--json always lists them).\n\nExamples:\n  $ krill tags alpine --limit 5\n  $ krill tags localhost:5000/apps/web --filter "^v1\\." --json\n  $ krill tags -r registry.example.com apps/web --no-details\n',
    )
    .action((...args: unknown[]) => run(args.at(-1) as Command, () => import('./commands/tags.js'), args.slice(0, -2)));

  program
    .command('inspect')
    .description('show the details of an image: digest, created, author, platforms, layers, labels')
    .argument('<reference>', 'REPO[:TAG|@DIGEST] or HOST/REPO[:TAG|@DIGEST]')
    .option('--platform <os/arch[/variant]>', 'for a multi-arch image, inspect this platform')
    .option('--raw', 'print the manifest exactly as the registry served it')
    .option('--config', 'print the image config exactly as stored (like crane config)')
    .option('--tree', 'print the referrer graph (signatures, SBOMs, their signatures) as a tree')
    .addHelpText(
      'after',
      "\nReferrers are found through the registry's referrers API, else the fallback tag sha256-<hex> and the\nlegacy cosign tags sha256-<hex>.sig/.att/.sbom.\n\nExamples:\n  $ krill inspect alpine:3.20\n  $ krill inspect localhost:5000/apps/web:1.2.0 --tree\n  $ krill inspect alpine:3.20 --platform linux/arm64/v8\n  $ krill inspect localhost:5000/apps/web@sha256:… --raw | sha256sum\n",
    )
    .action((...args: unknown[]) =>
      run(args.at(-1) as Command, () => import('./commands/inspect.js'), args.slice(0, -2)),
    );

  const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];
  const deletionOptions = (cmd: Command) =>
    cmd
      .option('--dry-run', 'show what would happen; change nothing')
      .option('-y, --yes', 'do not ask for confirmation (needed without a terminal)')
      .option(
        '--plan-out <file>',
        'save the plan as JSON and stop (apply it later with krill apply; with --yes, apply now too)',
      )
      .option('--journal <file>', 'undo journal path (default: $XDG_STATE_HOME/krill/journals/…)')
      .option('--show-kept', 'list every kept tag (by default more than ten per repository are summarised)');

  deletionOptions(
    program
      .command('rm')
      .alias('delete')
      .description('remove tags or manifests safely: a digest shared with a tag that stays is only untagged')
      .argument('<reference...>', 'REPO:TAG (remove the tag) or REPO@DIGEST (delete the manifest and its tags)')
      .option('--force', 'delete a manifest even though a remaining index references it')
      .option('--keep-referrers', 'leave the signatures, SBOMs and attestations of deleted images in place'),
  )
    .addHelpText(
      'after',
      "\nAn image's referrers (signatures, SBOMs, attestations) go with its manifest. REPO@DIGEST of one\nsignature takes it out of its subject's referrers index (sha256-<hex>) first.\n\nExamples:\n  $ krill rm registry.example.com/apps/web:1.0.0\n  $ krill rm -r registry.example.com apps/web:mr-12 apps/web:mr-13 --yes\n  $ krill rm localhost:5000/apps/web@sha256:… --dry-run\n",
    )
    .action((...args: unknown[]) => run(args.at(-1) as Command, () => import('./commands/rm.js'), args.slice(0, -2)));

  deletionOptions(
    program
      .command('cleanup')
      .description('delete old tags by retention rules: plan first, then apply')
      .argument('[repository...]', 'repositories to clean (with --all-repos: the registry)')
      .option('--all-repos', 'every repository of the catalog')
      .option('-f, --file <policy.yaml>', 'rules per repository from a policy file')
      .addOption(
        new Option('--keep <n>', 'keep the N newest images (default 3 when no rule is given)').argParser(
          parseIntegerOption('--keep', 0, 100_000),
        ),
      )
      .option('--delete-regex <regex>', 'only tags matching are candidates (repeatable)', collect)
      .option('--keep-regex <regex>', 'tags matching are always kept (repeatable)', collect)
      .option('--no-protect-latest', 'let the tag "latest" be deleted')
      .option(
        '--older-than <duration|date>',
        'only delete images created before now minus this (30d, 12h, 2w), or before a date (2024-03-01)',
      )
      .option('--semver <range>', "only semver tags in this range are candidates, e.g. '<1.4'")
      .addOption(new Option('--version <range>', 'deprecated: use --semver').hideHelp())
      .addOption(
        new Option(
          '--sort <order>',
          'what "newest" means for --keep: date (created) or semver (highest versions)',
        ).choices(['date', 'semver']),
      )
      .option('--scan-all', 'read every repository to account for blobs shared across repositories')
      .option('--strict', 'a policy rule that matches no repository is an error, not a warning')
      .option('--delete-orphans', 'also delete referrers (signatures, SBOMs) whose subject is gone')
      .option(
        '--keep-in-use <source>',
        'images workloads run, never deleted: a FILE of references, - (stdin), kubernetes or kubernetes:CTX,… (repeatable)',
        collect,
      )
      .addOption(
        new Option(
          '--rollback-depth <n>',
          'with kubernetes: previous revisions kept per workload (default: all)',
        ).argParser(parseIntegerOption('--rollback-depth', 0, 1000)),
      )
      .option('--allow-stale-live-set', "apply even when the live set cannot be re-read (use the plan's)")
      .option('--max-delete <n|p%>', 'refuse a plan that removes more tags (default 50% with --all-repos or -f)')
      .option('--max-bytes <size>', 'refuse a plan that frees more than this (500MB, 10GiB)')
      .option('--accept-listing', 'plan even where the tag listing lost many tags since the last run')
      .option('--diff', 'show what changed in each repository since the last recorded run'),
  )
    .addHelpText(
      'after',
      `
Rules, in order: candidates are the tags matching the delete filters (--delete-regex, --version) and not
kept by --keep-regex or "latest"; the N newest candidate images are kept; of the rest, images newer than
--older-than are kept; every other candidate is deleted. An image's manifest is deleted only when all its
tags go; otherwise the tags are untagged. Referrers (signatures, SBOMs, attestations: the fallback tags
sha256-<hex> and sha256-<hex>.sig/.att/.sbom, or the referrers API) follow their subject whatever the
rules say; those whose subject is gone are kept unless --delete-orphans.

Images that workloads run (--keep-in-use FILE, e.g. kubectl get pods -A -o jsonpath='{..image} {..imageID}')
are kept with everything they reach, and re-read right before deleting. A plan removing more tags than
--max-delete (default 50% with --all-repos or a policy file) or freeing more than --max-bytes is refused.

Examples:
  $ krill cleanup registry.example.com/apps/web --keep 10 --dry-run
  $ kubectl get pods -A -o jsonpath='{..image} {..imageID}' | krill cleanup -r registry.example.com apps/web --keep 5 --keep-in-use - --yes
  $ krill cleanup -r registry.example.com apps/web --delete-regex '^mr-' --older-than 14d --yes
  $ krill cleanup --all-repos registry.example.com --keep 5 --plan-out plan.json
  $ krill cleanup -f policy.yaml --all-repos --yes
`,
    )
    .action((...args: unknown[]) =>
      run(args.at(-1) as Command, () => import('./commands/cleanup.js'), args.slice(0, -2)),
    );

  deletionOptions(
    program
      .command('apply')
      .description('apply a saved plan, re-checking every tag right before deleting')
      .argument('<plan.json>', 'a plan written by --plan-out')
      .option('--allow-stale-live-set', "apply even when the live set cannot be re-read (use the plan's)"),
  )
    .addHelpText(
      'after',
      '\nExamples:\n  $ krill cleanup --all-repos registry.example.com --keep 5 --plan-out plan.json\n  $ krill apply plan.json --yes\n',
    )
    .action((...args: unknown[]) =>
      run(args.at(-1) as Command, () => import('./commands/apply.js'), args.slice(0, -2)),
    );

  program
    .command('copy')
    .alias('cp')
    .description('copy an image between registries or repositories, keeping its digest')
    .argument('<source>', 'HOST/REPO[:TAG|@DIGEST] (with --all-tags: HOST/REPO)')
    .argument('<destination>', 'HOST/REPO[:TAG] (default tag: the source tag)')
    .option('--all-tags', 'copy every tag of the source repository')
    .option('--platform <os/arch[/variant]>', 'copy one platform of a multi-arch image')
    .option('--src-username <user>', 'username for the source registry (also KRILL_SRC_USERNAME)')
    .option('--src-password <password>', 'password for the source registry (prefer --src-password-stdin)')
    .option('--src-password-stdin', 'read the source password from standard input')
    .option('--dest-username <user>', 'username for the destination registry (also KRILL_DEST_USERNAME)')
    .option('--dest-password <password>', 'password for the destination registry (prefer --dest-password-stdin)')
    .option('--dest-password-stdin', 'read the destination password from standard input')
    .option('--no-referrers', 'copy the image only, not its signatures, SBOMs and attestations')
    .option('--referrers-filter <artifactType>', 'copy only referrers of this artifact type (repeatable)', collect)
    .addHelpText(
      'after',
      "\nReferrers (signatures, SBOMs, attestations) travel with the image: the destination's referrers API\nindexes them, or krill merges them into its fallback index sha256-<hex>.\nBlobs already at the destination are skipped, mounted across repositories of one registry, or\nstreamed and digest-checked. Credentials default to the global ones or docker config per host.\n\nExamples:\n  $ krill copy alpine:3.20 registry.example.com/mirror/alpine:3.20\n  $ krill copy registry.example.com/apps/web:1.2.0 registry.example.com/apps/web-stable:1.2.0\n  $ krill copy --all-tags old.example.com/apps/web new.example.com/apps/web\n  $ krill copy alpine:3.20 localhost:5000/alpine:3.20-arm64 --platform linux/arm64/v8\n",
    )
    .action((...args: unknown[]) => run(args.at(-1) as Command, () => import('./commands/copy.js'), args.slice(0, -2)));

  program
    .command('sync')
    .description('copy new or changed tags from registries into a target registry (lstags specs)')
    .argument('[spec...]', '[REGISTRY/]REPO[:TAG][~/REGEX/][=TAG1,TAG2]')
    .option('--to <target>', 'target registry: HOST[:PORT][/PREFIX]')
    .option(
      '-f, --file <sync.yaml>',
      'specs from a file: {version: 1, target, prefix, repositories} or a lstags YAML file',
    )
    .option('--prefix <prefix>', 'path placed before the source repository at the target; "auto" = the source host')
    .option('--dry-run', 'report what would be copied; copy nothing')
    .option('--daemon', 'keep syncing every --interval until stopped (Ctrl-C finishes the current image)')
    .option('--interval <duration>', 'time between daemon rounds (default 5m)')
    .option('--do-not-fail', 'go on past failed images; report them at the end (exit 1)')
    .option('--prune', 'delete target tags that the source no longer has (safely, after confirmation or --yes)')
    .option('-y, --yes', 'no confirmation for --prune')
    .option('--no-referrers', 'sync images only, not their signatures, SBOMs and attestations')
    .option('--referrers-filter <artifactType>', 'sync only referrers of this artifact type (repeatable)', collect)
    .option('--dest-username <user>', 'username for the target registry (also KRILL_DEST_USERNAME)')
    .option('--dest-password <password>', 'password for the target registry (prefer --dest-password-stdin)')
    .option('--dest-password-stdin', 'read the target password from standard input')
    .addHelpText(
      'after',
      `
Each tag is copied only when the target lacks it or has another digest: reported as copied,
up-to-date or failed. A second sync with nothing new copies nothing. Referrers (signatures, SBOMs)
travel with their image, also when they were attached after the image was synced.

Examples:
  $ krill sync alpine~/^3\\.2/ nginx:1.27 --to registry.example.com/mirror
  $ krill sync registry.example.com/apps/web=1.0.0,1.1.0 --to localhost:5000 --prefix auto --dry-run
  $ krill sync -f lstags.yaml --to registry.example.com/mirror --daemon --interval 10m
`,
    )
    .action((...args: unknown[]) => run(args.at(-1) as Command, () => import('./commands/sync.js'), args.slice(0, -2)));

  program
    .command('compare')
    .description('compare registry tags with the local Docker engine (or a second registry)')
    .argument('<spec...>', '[REGISTRY/]REPO[:TAG][~/REGEX/][=TAG1,TAG2]')
    .option('--with <registry>', 'compare with a second registry HOST[:PORT][/PREFIX] instead of the engine')
    .addHelpText(
      'after',
      `
States: PRESENT (same digest locally), CHANGED (the local tag has another digest), ABSENT (only in
the registry), LOCAL-ONLY (only local), ASSUMED (named with = but not listed by the registry).
The engine is found through DOCKER_HOST (unix:// or tcp://), default unix:///var/run/docker.sock.

Examples:
  $ krill compare registry.example.com/apps/web~/^1\\./
  $ krill compare alpine=3.20,3.19 --json
  $ krill compare registry.example.com/apps/web --with mirror.example.com/prefix
`,
    )
    .action((...args: unknown[]) =>
      run(args.at(-1) as Command, () => import('./commands/compare.js'), args.slice(0, -2)),
    );

  program
    .command('pull')
    .description('pull the matching tags into the local Docker engine')
    .argument('<spec...>', '[REGISTRY/]REPO[:TAG][~/REGEX/][=TAG1,TAG2]')
    .option('--dry-run', 'list the tags that would be pulled')
    .addHelpText(
      'after',
      '\nExamples:\n  $ krill pull registry.example.com/apps/web~/^1\\.2/\n  $ DOCKER_HOST=unix:///run/podman/podman.sock krill pull alpine:3.20\n',
    )
    .action((...args: unknown[]) => run(args.at(-1) as Command, () => import('./commands/pull.js'), args.slice(0, -2)));

  program
    .command('undo')
    .description('put back what a cleanup or rm removed, from its journal (until garbage collection)')
    .argument('<journal>', 'the journal file krill printed after deleting')
    .option('--dry-run', 'list what would be restored; change nothing')
    .option('-y, --yes', 'do not ask for confirmation (needed without a terminal)')
    .option('--force', 'also overwrite tags that were pushed again since the removal')
    .addHelpText(
      'after',
      '\nA tag is restored only when it is absent or still points where the journal left it; a tag pushed\nagain since is skipped and reported (--force overwrites it).\n\nExamples:\n  $ krill undo ~/.local/state/krill/journals/2026-11-23T06-00-00-000Z-registry.example.com.jsonl --yes\n',
    )
    .action((...args: unknown[]) => run(args.at(-1) as Command, () => import('./commands/undo.js'), args.slice(0, -2)));

  program
    .command('digest')
    .description('print the digest a reference resolves to (like crane digest)')
    .argument('<reference>', 'REPO[:TAG] or HOST/REPO[:TAG]')
    .option('--platform <os/arch[/variant]>', 'the digest of this platform of a multi-arch image')
    .addHelpText(
      'after',
      '\nExamples:\n  $ krill digest alpine:3.20\n  $ krill digest registry.example.com/apps/web:1.2.0 --platform linux/arm64\n',
    )
    .action((...args: unknown[]) =>
      run(args.at(-1) as Command, () => import('./commands/digest.js'), args.slice(0, -2)),
    );

  program
    .command('login')
    .description(
      "check credentials against a registry and store them in docker's config.json (or its credential helper)",
    )
    .argument('[registry]', 'host[:port] or URL (default: --registry, else Docker Hub)')
    .addHelpText(
      'after',
      '\nThe password comes from --password-stdin, or a hidden prompt on a terminal. Every krill command (and\ndocker) then finds the credentials there.\n\nExamples:\n  $ echo "$TOKEN" | krill login registry.example.com -u ci --password-stdin\n  $ krill login -u alice registry.example.com        # asks Password: on a terminal\n',
    )
    .action((...args: unknown[]) =>
      run(args.at(-1) as Command, () => import('./commands/login.js'), args.slice(0, -2)),
    );

  program
    .command('logout')
    .description('remove the credentials krill login (or docker login) stored for a registry')
    .argument('[registry]', 'host[:port] or URL (default: --registry, else Docker Hub)')
    .addHelpText('after', '\nExamples:\n  $ krill logout registry.example.com\n')
    .action((...args: unknown[]) =>
      run(args.at(-1) as Command, () => import('./commands/logout.js'), args.slice(0, -2)),
    );

  program
    .command('config')
    .description('show the defaults in effect (flags > environment > config file) and where the config file is')
    .addHelpText(
      'after',
      '\n$XDG_CONFIG_HOME/krill/config.yaml (default ~/.config/krill/config.yaml) may set registry, concurrency,\ntimeout and ca-cert; flags and environment variables win over it.\n\nExamples:\n  $ krill config\n  $ krill config --json\n',
    )
    .action((...args: unknown[]) =>
      run(args.at(-1) as Command, () => import('./commands/config.js'), args.slice(0, -2)),
    );

  program
    .command('completion')
    .description('print a shell completion script (bash, zsh or fish)')
    .argument('<shell>', 'bash, zsh or fish')
    .addHelpText(
      'after',
      '\nExamples:\n  $ eval "$(krill completion bash)"              # in ~/.bashrc\n  $ krill completion zsh > "${fpath[1]}/_krill"\n  $ krill completion fish > ~/.config/fish/completions/krill.fish\n',
    )
    .action((...args: unknown[]) =>
      run(args.at(-1) as Command, () => import('./commands/completion.js'), args.slice(0, -2)),
    );

  const policy = program.command('policy').description('policy file tools: schema, test');
  policy
    .command('test')
    .description('check a policy against declared repositories and expected outcomes (no registry)')
    .argument('<policy.yaml>', 'the policy file')
    .argument('<cases.yaml>', 'repositories (tags, digests, dates, in-use marks) and what must happen to each tag')
    .addHelpText(
      'after',
      `
Cases file:
  version: 1
  now: 2024-06-01T00:00:00Z
  repositories:
    apps/web:
      tags:
        1.0.0: {digest: a, created: 2024-01-01}
        latest: {digest: b, created: 2024-05-01, in-use: true}
      expect:
        1.0.0: delete
        latest: {action: keep, reason: in use}

Exit 1 when an expectation fails (each failure names the file and line).

Examples:
  $ krill policy test policy.yaml policy.cases.yaml
`,
    )
    .action((...args: unknown[]) =>
      run(args.at(-1) as Command, () => import('./commands/policy-test.js'), args.slice(0, -2)),
    );
  policy
    .command('schema')
    .description('print the JSON Schema of policy files, for editors')
    .addHelpText(
      'after',
      '\nExamples:\n  $ krill policy schema > policy.schema.json\n  # then in policy.yaml: # yaml-language-server: $schema=policy.schema.json\n',
    )
    .action((...args: unknown[]) =>
      run(args.at(-1) as Command, () => import('./commands/policy.js'), args.slice(0, -2)),
    );

  return program;
}

export interface CommandModule {
  execute(ctx: CliContext, args: unknown[], options: Record<string, unknown>): Promise<void>;
}

function defaultIo(): Io {
  return {
    out: (text) => void process.stdout.write(text),
    err: (text) => void process.stderr.write(text),
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
    prompt: async (question) => {
      const { createInterface } = await import('node:readline');
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      try {
        return await new Promise<string>((resolve, reject) => {
          // Ctrl-C at the prompt: readline swallows the signal, so it ends the run here (exit 130).
          rl.on('SIGINT', () => reject(new AbortedError('cancelled; nothing was changed')));
          // Ctrl-D (end of input) is "no".
          rl.on('close', () => resolve(''));
          rl.question(question, resolve);
        });
      } finally {
        rl.close();
      }
    },
    promptSecret: (question) => readSecret(question),
    stdoutIsTty: process.stdout.isTTY === true,
    stderrIsTty: process.stderr.isTTY === true,
    stdinIsTty: process.stdin.isTTY === true,
    env: process.env,
  };
}

/** Env vars that name the default registry: they win over the config file. */
const REGISTRY_VARS = ['KRILL_REGISTRY', 'REGISTRY_CLI_HOSTNAME', 'REGISTRY'];

/** Fills the global options the user did not set (flag or env) from the config file. */
async function applyConfigFile(
  options: GlobalOptions,
  source: (key: string) => string | undefined,
  env: NodeJS.ProcessEnv,
): Promise<void> {
  const config = await readConfigFile(env);
  if (!config) return;
  const unset = (key: string) => source(key) === undefined || source(key) === 'default';
  if (config.registry !== undefined && unset('registry') && !REGISTRY_VARS.some((v) => env[v]))
    options.registry = config.registry;
  if (config.concurrency !== undefined && unset('concurrency')) options.concurrency = config.concurrency;
  if (config.timeout !== undefined && unset('timeout')) options.timeout = config.timeout;
  if (config.caCert !== undefined && unset('caCert')) options.caCert = config.caCert;
}

/** Reads a line from the terminal in raw mode without echoing it; Ctrl-C cancels (exit 130). */
function readSecret(question: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(question);
  return new Promise<string>((resolve, reject) => {
    let secret = '';
    const done = (error?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(secret);
    };
    const onData = (chunk: Buffer) => {
      for (const char of chunk.toString('utf8')) {
        if (char === '\u0003') return done(new AbortedError('cancelled; nothing was changed'));
        if (char === '\r' || char === '\n' || char === '\u0004') return done();
        if (char === '\u007f' || char === '\b') secret = secret.slice(0, -1);
        else secret += char;
      }
    };
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on('data', onData);
  });
}

/**
 * How a command asks for a graceful first Ctrl-C (sync --daemon: finish the current image, then
 * stop); by default the first signal aborts everything in flight.
 */
export interface Interruption {
  graceful?: (() => void) | undefined;
}

/** Runs the CLI and returns the exit code (used directly by tests; `main` exits with it). */
export async function runCli(
  argv: string[],
  io: Io = defaultIo(),
  signal: AbortSignal = new AbortController().signal,
  interruption: Interruption = {},
): Promise<number> {
  // Handled before commander: `cleanup --version RANGE` must not be taken for the program's --version.
  if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
    io.out(`${version()}\n`);
    return 0;
  }
  if (argv[0] === 'version' && argv.length <= 2 && (argv[1] === undefined || argv[1] === '--json')) {
    const info = { version: version(), node: process.version, platform: `${process.platform}/${process.arch}` };
    io.out(
      argv[1] ? `${JSON.stringify(info, null, 2)}\n` : `krill ${info.version} (node ${info.node}, ${info.platform})\n`,
    );
    return 0;
  }
  let context: CliContext | undefined;
  let verbose = false;
  const program = buildProgram(async (cmd, load, args) => {
    const { CliContext } = await import('./context.js');
    const options = cmd.optsWithGlobals<GlobalOptions & Record<string, unknown>>();
    verbose = options.verbose === true;
    await applyConfigFile(options, (key) => cmd.getOptionValueSourceWithGlobals(key), io.env);
    if (io.env.NO_COLOR) options.color = false;
    const module = await load();
    context = new CliContext(options, io, signal, interruption);
    await module.execute(context, args, options);
  }, io);
  // No command: the help, on stdout, and exit 2 (a script that forgot its command must fail).
  if (argv.length === 0) {
    io.out(program.helpInformation());
    return 2;
  }
  const known = program.commands.flatMap((c) => [c.name(), ...c.aliases()]);
  if (argv[0] === 'help' && argv[1] !== undefined && !known.includes(argv[1])) {
    io.err(`krill: unknown command '${argv[1]}' (see krill --help)\n`);
    return 2;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.code === 'commander.helpDisplayed' || error.code === 'commander.help' ? 0 : 2;
    }
    return reportError(error, io, verbose);
  } finally {
    await context?.close();
  }
}

/**
 * What to do about an error, in the CLI's words: the library says what failed, the CLI names the
 * flag or command that fixes it.
 */
export function hintFor(error: KrillError): string | undefined {
  if (error instanceof TlsError)
    return "pass --ca-cert FILE with the registry's CA, or --insecure to skip verification";
  if (error instanceof AuthError && error.credentialsMissing) {
    return `pass --username with --password-stdin, set KRILL_USERNAME/KRILL_PASSWORD, or run krill login ${error.registry ?? 'HOST'}`;
  }
  if (error instanceof JournalError) return 'nothing more was changed; pass --journal FILE in a writable place';
  return undefined;
}

function reportError(error: unknown, io: Io, verbose: boolean): number {
  if (error instanceof KrillError) {
    const hint = hintFor(error);
    io.err(`krill: ${escapeControl(error.message)}${hint ? `: ${hint}` : ''}\n`);
    if (verbose) {
      let cause = error.cause;
      while (cause instanceof Error) {
        io.err(`krill:   caused by: ${escapeControl(cause.message)}\n`);
        cause = cause.cause;
      }
    }
    return error.exitCode;
  }
  // A bug, not a user error: say so, and show the stack only when asked.
  const message = error instanceof Error ? error.message : String(error);
  io.err(`krill: internal error: ${escapeControl(message)} (rerun with --verbose and report it)\n`);
  if (verbose && error instanceof Error && error.stack) io.err(`${error.stack}\n`);
  return 1;
}

/** Process entry point: the only place krill calls process.exit. */
export async function main(argv: string[]): Promise<void> {
  const controller = new AbortController();
  const interruption: Interruption = {};
  let signals = 0;
  let interrupted = false;
  const onSignal = () => {
    signals++;
    if (signals === 1 && interruption.graceful) {
      interruption.graceful();
      return;
    }
    if (interrupted) process.exit(130); // another Ctrl-C: stop now
    interrupted = true;
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // `krill tags … | head`: the reader went away; that is not an error worth a stack trace.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
  const code = await runCli(argv, defaultIo(), controller.signal, interruption);
  // Let stdout drain before exiting: large --json output into a pipe is written asynchronously.
  await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  process.exit(interrupted ? 130 : code);
}
