import type { CommandUnknownOpts } from '@commander-js/extra-typings';
import { Command, InvalidArgumentError, Option } from '@commander-js/extra-typings';
import { parseDuration } from '../duration.js';
import type { CliContext, Io } from './context.js';
import { wrapToWidth } from './render.js';

export { CommanderError } from '@commander-js/extra-typings';

/**
 * The command line, declared: global options, and each command's arguments, options and help.
 * Types flow from here to the command modules (`ArgsOf`/`OptionsOf`), so a command reads only the
 * options it declares, with the types commander gives them. A command's module is loaded only when
 * it runs (so `krill --version` stays close to `node -e 0`).
 */

function parseIntegerOption(name: string, min: number, max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value.trim()))
      throw new InvalidArgumentError(`${name} must be a whole number between ${min} and ${max}`);
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`${name} must be between ${min} and ${max}`);
    return n;
  };
}

/** `--timeout`: the one duration grammar (`30s`, `2m`, `500ms`), or plain seconds as before. */
function parseTimeout(value: string): number {
  let ms: number;
  try {
    ms = /^\s*\d+\s*$/.test(value) ? Number(value) * 1000 : parseDuration(value, '--timeout');
  } catch {
    throw new InvalidArgumentError('expected a duration such as 30s, 2m or 500ms');
  }
  if (ms < 100) throw new InvalidArgumentError('must be at least 100ms');
  return ms;
}

const GLOBAL_HELP = `
Registry and credentials:
  A reference is HOST[:PORT]/REPO[:TAG|@DIGEST], or REPO[:TAG] on the default
  registry: --registry, else $KRILL_REGISTRY ($REGISTRY_CLI_HOSTNAME,
  $REGISTRY), else Docker Hub. Credentials: --username with --password-stdin,
  else $KRILL_USERNAME/$KRILL_PASSWORD, else ~/.docker/config.json (credential
  helpers included), else anonymous.

Examples:
  $ krill tags alpine                              # Docker Hub, anonymous
  $ krill repos registry.example.com
  $ krill tags -r registry.example.com apps/web --limit 10
  $ echo "$TOKEN" | krill -u ci --password-stdin inspect registry.example.com/apps/web:1.2.0

krill --version prints the version.
Exit codes: 0 success, 1 operation failed, 2 bad usage (nothing was sent),
3 a repository skipped (its tag listing looks wrong), 130 interrupted.
`;

/** The program and its global options (they live on the program: `program.opts()`). */
export function declareProgram(io: Io) {
  return (
    new Command('krill')
      // Set before subcommands are added: they inherit these settings when created.
      .exitOverride()
      .configureOutput({
        // Help fits the terminal (80 columns when unknown): commander wraps its own columns; the
        // prose and examples after them are wrapped here.
        writeOut: (text) => io.out(wrapToWidth(text, io.columns ?? 80)),
        writeErr: (text) => io.err(text),
        getOutHelpWidth: () => io.columns ?? 80,
        // One line: commander puts "(Did you mean …?)" on a line of its own.
        outputError: (text, write) => {
          const line = text
            .replace(/^error: /, '')
            .trim()
            .replace(/\s*\n\s*/g, ' ');
          // `--exclude -rc`: commander takes -rc for an option. Say how to pass such a value.
          const missing = /^option '(--[a-z-]+)[^']*' argument missing$/.exec(line);
          const hint = missing ? `; a value starting with - needs the = form: ${missing[1]}=-VALUE` : '';
          // `-o json` (kubectl's habit): JSON is a global flag here.
          if (/^option '-o, --output <format>' argument 'json' is invalid/.test(line)) {
            write(`krill: ${line.replace(/\.$/, '')}; for JSON pass --json (see krill --help)\n`);
            return;
          }
          write(`krill: ${line}${hint} (see krill --help)\n`);
        },
      })
      .description('List, inspect and clean up images in Docker Registry v2 / OCI registries.')
      .helpOption('-h, --help', 'show help')
      .showSuggestionAfterError(true)
      .configureHelp({
        showGlobalOptions: true,
        sortSubcommands: false,
        // `copy <source> <destination>`, not `copy|cp [options] <source> <destination>`: commander
        // wraps descriptions only when the term column leaves them 40 columns of an 80-column screen.
        subcommandTerm: (cmd) =>
          `${[cmd.name(), ...cmd.aliases().slice(0, 1)].join('|')} ${cmd.usage().replace('[options]', '')}`
            .replace(/\s+/g, ' ')
            .trim(),
      })
      .addHelpText('after', GLOBAL_HELP)
      .option(
        '-r, --registry <host>',
        'default registry for short references: host[:port] or URL (http:// = plain HTTP)',
      )
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
      .option('--no-cache', 'bypass the on-disk manifest cache')
      .option(
        '--ledger <ledger>',
        'the pull/push ledger: sqlite:PATH or postgres://… (else $KRILL_LEDGER, the config file, the state dir)',
      )
  );
}

export type Program = ReturnType<typeof declareProgram>;

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

/** Options every deleting command shares (rm, cleanup, apply). */
function withDeletionOptions<A extends unknown[], O extends Record<string, unknown>, G extends Record<string, unknown>>(
  cmd: Command<A, O, G>,
) {
  return cmd
    .option('--dry-run', 'show what would happen; change nothing')
    .option('-y, --yes', 'do not ask for confirmation (needed without a terminal)')
    .option(
      '--plan-out <file>',
      'save the plan as JSON and stop (apply it later with krill apply; with --yes, apply now too)',
    )
    .option('--journal <file>', 'undo journal path (default: $XDG_STATE_HOME/krill/journals/…)')
    .option('--show-kept', 'list every kept tag (by default more than ten per repository are summarised)')
    .addOption(
      new Option('-o, --output <format>', 'table (fits the terminal) or wide (full digests, dates, reasons)')
        .choices(['table', 'wide'] as const)
        .default('table' as const),
    );
}

/** `krill policy …`: a group of subcommands. */
function declarePolicyGroup(program: Program) {
  return program
    .command('policy')
    .description('policy file tools: schema, test')
    .addHelpText(
      'after',
      '\nExamples:\n  $ krill policy test policy.yaml policy.cases.yaml\n  $ krill policy schema > policy.schema.json\n  $ krill cleanup -f policy.yaml --dry-run        # the plan the policy makes\n',
    );
}

type PolicyGroup = ReturnType<typeof declarePolicyGroup>;

/** `krill ledger …`: the ledger's subcommands. */
function declareLedgerGroup(program: Program) {
  return program.command('ledger').description('the pull/push ledger: status');
}

type LedgerGroup = ReturnType<typeof declareLedgerGroup>;

/** Each command, by the name of its module in ./commands (policy's subcommands take the policy group). */
export const COMMANDS = {
  repos: (program: Program) =>
    program
      .command('repos')
      .alias('catalog')
      .description('list the repositories of a registry (the catalog), sorted')
      .argument('[registry]', 'registry host[:port] or URL (default: --registry)')
      .addHelpText(
        'after',
        '\nExamples:\n  $ krill repos registry.example.com\n  $ krill repos localhost:5000 --json\n',
      ),
  tags: (program: Program) =>
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
      ),
  inspect: (program: Program) =>
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
      ),
  rm: (program: Program) =>
    withDeletionOptions(
      program
        .command('rm')
        .alias('delete')
        .description('remove tags or manifests safely: a digest shared with a tag that stays is only untagged')
        .argument('<reference...>', 'REPO:TAG (remove the tag) or REPO@DIGEST (delete the manifest and its tags)')
        .option('--force', 'delete a manifest even though a remaining index references it')
        .option('--keep-referrers', 'leave the signatures, SBOMs and attestations of deleted images in place'),
    ).addHelpText(
      'after',
      "\nAn image's referrers (signatures, SBOMs, attestations) go with its manifest. REPO@DIGEST of one\nsignature takes it out of its subject's referrers index (sha256-<hex>) first.\n\nExamples:\n  $ krill rm registry.example.com/apps/web:1.0.0\n  $ krill rm -r registry.example.com apps/web:mr-12 apps/web:mr-13 --yes\n  $ krill rm localhost:5000/apps/web@sha256:… --dry-run\n",
    ),
  cleanup: (program: Program) =>
    withDeletionOptions(
      program
        .command('cleanup')
        .description('delete old tags by retention rules: plan first, then apply')
        .argument('[repository...]', 'repositories to clean (with --all-repos: the registry)')
        .option('--all-repos', 'every repository of the catalog')
        .option(
          '--shard <i/n|auto>',
          "only this job's share of the catalog: 2/3, or auto (GitLab parallel:, Kubernetes Indexed Job)",
        )
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
        .option(
          '--unpulled-for <duration>',
          'only delete images nobody pulled for this long (90d; needs the ledger: krill listen)',
        )
        .option('--allow-before-ledger', 'with --unpulled-for: images pushed before the ledger began may go')
        .option('--semver <range>', "only semver tags in this range are candidates, e.g. '<1.4'")
        .option(
          '--rule <spec>',
          "one rule per tag family, repeatable: 'tags=^v keep=5'; a tag stays when any rule keeps it (see Rules below)",
          collect,
        )
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
    ).addHelpText(
      'after',
      `
Rules, in order: candidates are the tags matching the delete filters (--delete-regex, --semver) and not
kept by --keep-regex or "latest"; the N newest candidate images are kept; of the rest, images newer than
--older-than are kept; every other candidate is deleted. An image's manifest is deleted only when all its
tags go; otherwise the tags are untagged. Referrers (signatures, SBOMs, attestations: the fallback tags
sha256-<hex> and sha256-<hex>.sig/.att/.sbom, or the referrers API) follow their subject whatever the
rules say; those whose subject is gone are kept unless --delete-orphans.

Several tag families in one plan: each --rule decides the tags its tags= regex selects, with the
keys of a policy rule (keep, older-than, delete-regex, keep-regex, semver, sort, protect-latest;
a regex may not contain spaces: use a policy file then). A tag is kept as soon as one rule keeps
it; a tag no rule selects is kept.

Images that workloads run (--keep-in-use FILE, e.g. kubectl get pods -A -o jsonpath='{..image} {..imageID}')
are kept with everything they reach, and re-read right before deleting. A plan removing more tags than
--max-delete (default 50% with --all-repos or a policy file) or freeing more than --max-bytes is refused.

Examples:
  $ krill cleanup registry.example.com/apps/web --keep 10 --dry-run
  $ krill cleanup registry.example.com/apps/web --rule 'tags=^v keep=5' --rule 'tags=^mr- keep=0 older-than=7d' --rule 'tags=^main- keep=0 older-than=30d'
  $ kubectl get pods -A -o jsonpath='{..image} {..imageID}' | krill cleanup -r registry.example.com apps/web --keep 5 --keep-in-use - --yes
  $ krill cleanup -r registry.example.com apps/web --delete-regex '^mr-' --older-than 14d --yes
  $ krill cleanup --all-repos registry.example.com --keep 5 --plan-out plan.json
  $ krill cleanup -f policy.yaml --all-repos --yes
`,
    ),
  apply: (program: Program) =>
    withDeletionOptions(
      program
        .command('apply')
        .description('apply a saved plan, re-checking every tag right before deleting')
        .argument('<plan.json>', 'a plan written by --plan-out')
        .option('--allow-stale-live-set', "apply even when the live set cannot be re-read (use the plan's)"),
    ).addHelpText(
      'after',
      '\nExamples:\n  $ krill cleanup --all-repos registry.example.com --keep 5 --plan-out plan.json\n  $ krill apply plan.json --yes\n',
    ),
  copy: (program: Program) =>
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
      ),
  sync: (program: Program) =>
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
      .option(
        '--immutable <regex>',
        'tags that never change once pushed (^v\\d): one the destination has is not re-checked',
      )
      .option(
        '--shard <i/n|auto>',
        "only this job's share of the catalog: 2/3, or auto (GitLab parallel:, Kubernetes Indexed Job)",
      )
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
      ),
  compare: (program: Program) =>
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
      ),
  pull: (program: Program) =>
    program
      .command('pull')
      .description('pull the matching tags into the local Docker engine')
      .argument('<spec...>', '[REGISTRY/]REPO[:TAG][~/REGEX/][=TAG1,TAG2]')
      .option('--dry-run', 'list the tags that would be pulled')
      .addHelpText(
        'after',
        '\nExamples:\n  $ krill pull registry.example.com/apps/web~/^1\\.2/\n  $ DOCKER_HOST=unix:///run/podman/podman.sock krill pull alpine:3.20\n',
      ),
  undo: (program: Program) =>
    program
      .command('undo')
      .description('put back what a cleanup or rm removed, from its journal (until garbage collection)')
      .argument('<journal>', 'the journal file krill printed after deleting')
      .option('--dry-run', 'list what would be restored; change nothing')
      .option('-y, --yes', 'do not ask for confirmation (needed without a terminal)')
      .option('--force', 'also overwrite tags that were pushed again since the removal')
      .addHelpText(
        'after',
        '\nA tag is restored only when it is absent or still points where the journal left it; a tag pushed\nagain since is skipped and reported (--force overwrites it).\n\nExamples:\n  $ krill undo ~/.local/state/krill/journals/2026-11-23T06-00-00Z-host.jsonl --yes\n',
      ),
  digest: (program: Program) =>
    program
      .command('digest')
      .description('print the digest a reference resolves to (like crane digest)')
      .argument('<reference>', 'REPO[:TAG] or HOST/REPO[:TAG]')
      .option('--platform <os/arch[/variant]>', 'the digest of this platform of a multi-arch image')
      .addHelpText(
        'after',
        '\nExamples:\n  $ krill digest alpine:3.20\n  $ krill digest registry.example.com/apps/web:1.2.0 --platform linux/arm64\n',
      ),
  login: (program: Program) =>
    program
      .command('login')
      .description(
        "check credentials against a registry and store them in docker's config.json (or its credential helper)",
      )
      .argument('[registry]', 'host[:port] or URL (default: --registry, else Docker Hub)')
      .addHelpText(
        'after',
        '\nThe password comes from --password-stdin, or a hidden prompt on a terminal. Every krill command (and\ndocker) then finds the credentials there.\n\nExamples:\n  $ echo "$TOKEN" | krill login registry.example.com -u ci --password-stdin\n  $ krill login -u alice registry.example.com        # asks Password: on a terminal\n',
      ),
  logout: (program: Program) =>
    program
      .command('logout')
      .description('remove the credentials krill login (or docker login) stored for a registry')
      .argument('[registry]', 'host[:port] or URL (default: --registry, else Docker Hub)')
      .addHelpText('after', '\nExamples:\n  $ krill logout registry.example.com\n'),
  config: (program: Program) =>
    program
      .command('config')
      .description('show the defaults in effect (flags > environment > config file) and where the config file is')
      .addHelpText(
        'after',
        '\n$XDG_CONFIG_HOME/krill/config.yaml (default ~/.config/krill/config.yaml) may set registry, concurrency,\ntimeout and ca-cert; flags and environment variables win over it.\n\nExamples:\n  $ krill config\n  $ krill config --json\n',
      ),
  completion: (program: Program) =>
    program
      .command('completion')
      .description('print a shell completion script (bash, zsh or fish)')
      .argument('<shell>', 'bash, zsh or fish')
      .addHelpText(
        'after',
        '\nExamples:\n  $ eval "$(krill completion bash)"              # in ~/.bashrc\n  $ krill completion zsh > "${fpath[1]}/_krill"\n  $ krill completion fish > ~/.config/fish/completions/krill.fish\n',
      ),
  du: (program: Program) =>
    program
      .command('du')
      .description('what uses the storage: per repository the bytes only it references, shared, total')
      .argument('[registry|repository...]', 'a registry (its whole catalog; default: --registry) or repositories')
      .option(
        '--shard <i/n|auto>',
        "only this job's share of the catalog: 2/3, or auto (GitLab parallel:, Kubernetes Indexed Job)",
      )
      .addOption(
        new Option('-o, --output <format>', 'table (fits 80 columns) or wide (manifests, biggest images)').choices([
          'table',
          'wide',
        ]),
      )
      .addHelpText(
        'after',
        `
EXCLUSIVE is what deleting the repository (then garbage collection) frees: the bytes of blobs no
other repository references. It needs the whole catalog: with repositories named, blobs shared with
repositories not read count as exclusive. Untagged manifests the registry still holds (those krill
listed before, and with a ledger those pushed and never deleted) count, as garbage collection sees them.

Examples:
  $ krill du registry.example.com
  $ krill du -r registry.example.com -o wide --json
  $ krill du registry.example.com/apps/web registry.example.com/apps/api
`,
      ),
  serve: (program: Program) =>
    program
      .command('serve')
      .description('a local web page: catalog and sizes, tags, images, cleanup review with apply and undo')
      .argument('[registry]', 'registry host[:port] or URL (default: --registry)')
      .option('--addr <host:port>', 'where to listen (default 127.0.0.1:8080)')
      .option('--read-only', 'browse and review plans only: apply and undo are refused')
      .option('--allow-remote', 'listen beyond loopback (every page then needs the token)')
      .option(
        '--keep-in-use <source>',
        'images workloads run (a FILE of references, kubernetes[:CTX]): marked, and kept by every plan (repeatable)',
        collect,
      )
      .addHelpText(
        'after',
        `
The URL printed at start carries a token, like Jupyter's: opening it once lets that browser apply
plans and undo them (a cookie, with a CSRF check on every change). Without it, pages are read-only.
Credentials stay in krill (the usual sources): never in a page, a URL or a log.

Examples:
  $ krill serve registry.example.com
  $ krill serve -r localhost:5000 --addr 127.0.0.1:9000 --read-only
`,
      ),
  listen: (program: Program) =>
    program
      .command('listen')
      .description('receive registry notifications into the ledger: pushes, pulls, tag moves')
      .option('--addr <host:port>', 'where to listen (default 127.0.0.1:5050)')
      .option('--secret-file <file>', 'the shared secret the registry sends (else $KRILL_LEDGER_SECRET)')
      .option('--registry-name <host>', "record events under this registry (default: each event's request host)")
      .option('--count-head', 'count HEAD requests as pulls (by default only GETs of a manifest count)')
      .option(
        '--ignore-agent <regex>',
        'pulls by user agents matching are not use: scanners, replication (repeatable)',
        collect,
      )
      .addHelpText(
        'after',
        `
The registry's config.yml (distribution 2.8 and 3.x):
  notifications:
    endpoints:
      - name: krill
        url: http://127.0.0.1:5050/events
        headers: {Authorization: [Bearer SECRET]}
        timeout: 2s
        threshold: 5
        backoff: 2s

Pulls by krill itself are never counted. SIGTERM or Ctrl-C stops after the events in flight are stored.

Examples:
  $ openssl rand -hex 32 > /etc/krill/ledger.secret
  $ krill listen --addr 0.0.0.0:5050 --secret-file /etc/krill/ledger.secret --ignore-agent '^Trivy'
  $ krill listen --ledger postgres://krill@db/krill --secret-file ledger.secret
`,
      ),
  history: (program: Program) =>
    program
      .command('history')
      .description("a repository's or a tag's moves: when, from which digest to which, pushed or seen by krill")
      .argument('<repository[:tag]>', 'REPO, REPO:TAG, HOST/REPO[:TAG]')
      .addHelpText(
        'after',
        '\nMoves come from push and delete events in the ledger (krill listen) and from the listings krill\nrecorded on earlier runs.\n\nExamples:\n  $ krill history registry.example.com/apps/web:latest\n  $ krill history -r localhost:5000 apps/web --json\n',
      ),
  ledgerStatus: (ledger: LedgerGroup) =>
    ledger
      .command('status')
      .description("the ledger's coverage, events stored and the last event per registry instance")
      .option('--stale-after <duration>', 'warn when an instance sent nothing for this long (default 1d)')
      .addHelpText(
        'after',
        '\nExamples:\n  $ krill ledger status\n  $ krill --ledger postgres://krill@db/krill ledger status --json\n',
      ),
  policyTest: (policy: PolicyGroup) =>
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
      ),
  policySchema: (policy: PolicyGroup) =>
    policy
      .command('schema')
      .description('print the JSON Schema of policy files, for editors')
      .addHelpText(
        'after',
        '\nExamples:\n  $ krill policy schema > policy.schema.json\n  # then in policy.yaml: # yaml-language-server: $schema=policy.schema.json\n',
      ),
};

type Declared = { [K in keyof typeof COMMANDS]: ReturnType<(typeof COMMANDS)[K]> };
/** The positional arguments of a command, as commander passes them to its action. */
export type ArgsOf<K extends keyof Declared> = Declared[K]['processedArgs'];
/** The options of a command (without the global ones: those are on the CLI context). */
export type OptionsOf<K extends keyof Declared> = ReturnType<Declared[K]['opts']>;

/** A command module: `execute` takes the command's positional arguments and its own options. */
export interface CommandModule<A extends unknown[], O> {
  execute(ctx: CliContext, args: A, options: O): Promise<void>;
}

/** Runs a command: builds the context for `cmd` (global options, config file), then `execute`s. */
export type Runner = (
  cmd: CommandUnknownOpts,
  load: () => Promise<(ctx: CliContext) => Promise<void>>,
) => Promise<void>;

/** The program with every command's action: load its module, then run it through `run`. */
export function buildProgram(run: Runner, io: Io): Program {
  const program = declareProgram(io);
  const lazy =
    <A extends unknown[], O>(load: () => Promise<CommandModule<A, O>>) =>
    (...all: [...A, O, CommandUnknownOpts]): Promise<void> => {
      const cmd = all[all.length - 1] as CommandUnknownOpts;
      const options = all[all.length - 2] as O;
      const args = all.slice(0, -2) as A;
      return run(cmd, async () => {
        const module = await load();
        return (ctx) => module.execute(ctx, args, options);
      });
    };
  COMMANDS.repos(program).action(lazy(() => import('./commands/repos.js')));
  COMMANDS.tags(program).action(lazy(() => import('./commands/tags.js')));
  COMMANDS.inspect(program).action(lazy(() => import('./commands/inspect.js')));
  COMMANDS.rm(program).action(lazy(() => import('./commands/rm.js')));
  COMMANDS.cleanup(program).action(lazy(() => import('./commands/cleanup.js')));
  COMMANDS.apply(program).action(lazy(() => import('./commands/apply.js')));
  COMMANDS.copy(program).action(lazy(() => import('./commands/copy.js')));
  COMMANDS.sync(program).action(lazy(() => import('./commands/sync.js')));
  COMMANDS.compare(program).action(lazy(() => import('./commands/compare.js')));
  COMMANDS.pull(program).action(lazy(() => import('./commands/pull.js')));
  COMMANDS.undo(program).action(lazy(() => import('./commands/undo.js')));
  COMMANDS.digest(program).action(lazy(() => import('./commands/digest.js')));
  COMMANDS.login(program).action(lazy(() => import('./commands/login.js')));
  COMMANDS.logout(program).action(lazy(() => import('./commands/logout.js')));
  COMMANDS.config(program).action(lazy(() => import('./commands/config.js')));
  COMMANDS.completion(program).action(lazy(() => import('./commands/completion.js')));
  COMMANDS.du(program).action(lazy(() => import('./commands/du.js')));
  COMMANDS.serve(program).action(lazy(() => import('./commands/serve.js')));
  COMMANDS.listen(program).action(lazy(() => import('./commands/listen.js')));
  COMMANDS.history(program).action(lazy(() => import('./commands/history.js')));
  const ledger = declareLedgerGroup(program);
  COMMANDS.ledgerStatus(ledger).action(lazy(() => import('./commands/ledger-status.js')));
  // Listed for --help only: runCli answers `krill version [--json]` before commander runs.
  program.command('version').description('print the version (--json: with Node.js and platform)');
  const policy = declarePolicyGroup(program);
  COMMANDS.policyTest(policy).action(lazy(() => import('./commands/policy-test.js')));
  COMMANDS.policySchema(policy).action(lazy(() => import('./commands/policy-schema.js')));
  return program;
}
