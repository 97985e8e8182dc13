import { args } from "./args.js";
import { COMMANDS } from "./command-list.js";

/**
 * `completion bash`: a bash completion script made from the command list (commands, their
 * options, the choices of an option, files for a <file> or <dir> value). Load it with
 * `eval "$(sensor-oracle completion bash)"` or save it in /etc/bash_completion.d/sensor-oracle.
 */
export async function completionBash(argv: string[]): Promise<string> {
  args(argv, {});
  return bashCompletionScript();
}

/** The script: one bash function and its `complete` line. */
export function bashCompletionScript(): string {
  const groups = [...new Set(COMMANDS.map((c) => c.name.split(" ")[0]))];
  const subs = groups.map((g) => {
    const words = COMMANDS.filter((c) => c.name.startsWith(`${g} `)).map((c) => c.name.split(" ")[1]);
    return `    ${g}) subs="${words.join(" ")}" ;;`;
  });
  const options = COMMANDS.map((c) => {
    const flags = [...c.options.map((o) => `--${o.name}`), "--help"].join(" ");
    return `    "${c.name}") opts="${flags}" ;;`;
  });
  const values = COMMANDS.flatMap((c) =>
    c.options
      .filter((o) => o.value)
      .map((o) => {
        const reply = o.choices
          ? `COMPREPLY=($(compgen -W "${o.choices.join(" ")}" -- "$cur"))`
          : /<(file|dir)>/.test(o.value ?? "")
            ? `COMPREPLY=($(compgen -${o.value === "<dir>" ? "d" : "f"} -- "$cur"))`
            : "COMPREPLY=()";
        return `    "${c.name} --${o.name}") ${reply}; return ;;`;
      }),
  );
  return `# bash completion for sensor-oracle: eval "$(sensor-oracle completion bash)"
_sensor_oracle() {
  local cur prev subs opts
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  if [[ $COMP_CWORD -eq 1 ]]; then
    COMPREPLY=($(compgen -W "${groups.join(" ")} --help --version" -- "$cur"))
    return
  fi
  if [[ $COMP_CWORD -eq 2 ]]; then
    case "\${COMP_WORDS[1]}" in
${subs.join("\n")}
    *) subs="" ;;
    esac
    COMPREPLY=($(compgen -W "$subs" -- "$cur"))
    return
  fi
  local command="\${COMP_WORDS[1]} \${COMP_WORDS[2]}"
  case "$command $prev" in
${values.join("\n")}
  esac
  case "$command" in
${options.join("\n")}
    *) opts="" ;;
  esac
  COMPREPLY=($(compgen -W "$opts" -- "$cur"))
}
complete -o default -F _sensor_oracle sensor-oracle
`;
}
