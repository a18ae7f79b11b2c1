import type { CommandUnknownOpts as Command } from '@commander-js/extra-typings';

/**
 * `krill completion bash|zsh|fish`: completion scripts generated from the program's own commands,
 * aliases and flags, so they can never fall behind. Pure: the program in, the script out.
 */

interface Entry {
  names: string[];
  flags: string[];
  subcommands: Entry[];
}

function flagsOf(cmd: Command): string[] {
  return cmd.options.filter((o) => !o.hidden).flatMap((o) => [o.long, o.short].filter((f): f is string => Boolean(f)));
}

function entryOf(cmd: Command): Entry {
  return { names: [cmd.name(), ...cmd.aliases()], flags: flagsOf(cmd), subcommands: cmd.commands.map(entryOf) };
}

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

export function completionScript(program: Command, shell: Shell): string {
  const global = ['--help', ...flagsOf(program)];
  const commands = program.commands.map(entryOf);
  return shell === 'fish' ? fish(commands, global) : bashLike(commands, global, shell === 'zsh');
}

function bashLike(commands: Entry[], global: string[], zsh: boolean): string {
  const cases = commands
    .map((c) => {
      const words = [...c.flags, ...c.subcommands.flatMap((s) => s.names)].join(' ');
      return `    ${c.names.join('|')}) words="${words}" ;;`;
    })
    .join('\n');
  return `${zsh ? '#compdef krill\nautoload -U +X bashcompinit && bashcompinit\n' : ''}# krill completion for ${zsh ? 'zsh' : 'bash'}: eval "$(krill completion ${zsh ? 'zsh' : 'bash'})"
_krill() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" words=""
  if [ "$COMP_CWORD" -le 1 ]; then
    COMPREPLY=( $(compgen -W "${commands.flatMap((c) => c.names).join(' ')} ${global.join(' ')}" -- "$cur") )
    return
  fi
  case "\${COMP_WORDS[1]}" in
${cases}
  esac
  COMPREPLY=( $(compgen -W "$words ${global.join(' ')}" -- "$cur") )
}
complete -o default -F _krill krill
`;
}

function fish(commands: Entry[], global: string[]): string {
  const lines = ['# krill completion for fish: krill completion fish > ~/.config/fish/completions/krill.fish'];
  const longs = (flags: string[]) => flags.filter((f) => f.startsWith('--')).map((f) => f.slice(2));
  for (const flag of longs(global)) lines.push(`complete -c krill -l ${flag}`);
  for (const c of commands) {
    for (const name of c.names) lines.push(`complete -c krill -n __fish_use_subcommand -a ${name}`);
    const seen = `__fish_seen_subcommand_from ${c.names.join(' ')}`;
    for (const flag of longs(c.flags)) lines.push(`complete -c krill -n '${seen}' -l ${flag}`);
    for (const sub of c.subcommands) lines.push(`complete -c krill -n '${seen}' -a ${sub.names[0]}`);
  }
  return `${lines.join('\n')}\n`;
}
