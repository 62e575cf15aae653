/**
 * The scripts `regctl completion SHELL` prints. Each asks `regctl __complete` with the words of
 * the line up to the cursor (the last one being completed) and offers one reply per line; with
 * no reply, the shell completes file names as usual.
 */

const bash = `# regctl completion for bash: eval "$(regctl completion bash)" (e.g. in ~/.bashrc)
_regctl_complete() {
  local -a words
  if [[ -n \${COMP_LINE-} ]]; then
    # The line itself: COMP_WORDS splits host:5000/app:tag at every colon.
    local line=\${COMP_LINE:0:\${COMP_POINT:-\${#COMP_LINE}}}
    read -ra words <<< "$line"
    [[ -z $line || $line == *[[:space:]] ]] && words+=("")
  else
    words=("\${COMP_WORDS[@]:0:COMP_CWORD+1}")
  fi
  local cur=\${words[\${#words[@]}-1]}
  COMPREPLY=()
  local reply
  while IFS= read -r reply; do
    [[ -n $reply ]] && COMPREPLY+=("$reply")
  done < <(command regctl __complete "\${words[@]:1}" 2>/dev/null)
  # Readline replaces only the part after the last colon (COMP_WORDBREAKS): offer that part.
  if [[ $cur == *:* && \${COMP_WORDBREAKS-:} == *:* ]]; then
    local prefix=\${cur%"\${cur##*:}"} i
    for i in "\${!COMPREPLY[@]}"; do COMPREPLY[i]=\${COMPREPLY[i]#"$prefix"}; done
  fi
}
complete -o default -F _regctl_complete regctl
`;

const zsh = `#compdef regctl
# regctl completion for zsh: eval "$(regctl completion zsh)" after compinit (e.g. in ~/.zshrc)
_regctl() {
  local -a replies
  replies=("\${(@f)$(command regctl __complete "\${(@)words[2,CURRENT]}" 2>/dev/null)}")
  replies=("\${(@)replies:#}")
  if (( \${#replies} )); then
    compadd -- "\${replies[@]}"
  else
    _files
  fi
}
if (( \${+functions[compdef]} )); then compdef _regctl regctl; fi
`;

const fish = `# regctl completion for fish: regctl completion fish > ~/.config/fish/completions/regctl.fish
function __regctl_complete
    set -l tokens (commandline -opc) (commandline -ct)
    set -l replies (command regctl __complete $tokens[2..-1] 2>/dev/null)
    if test (count $replies) -gt 0
        printf '%s\\n' $replies
    else
        __fish_complete_path (commandline -ct)
    end
end
complete -c regctl -f -a '(__regctl_complete)'
`;

export const COMPLETION_SCRIPTS = { bash, zsh, fish } as const;
export type CompletionShell = keyof typeof COMPLETION_SCRIPTS;
