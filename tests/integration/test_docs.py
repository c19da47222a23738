"""The documentation agrees with the program: the configuration keys and
their defaults in daemon/config.c, the README's configuration reference and
reportd.yaml(5); the commands of `reportd help`, the README's command list,
reportd(8) and the bash completion; each command's options in its --help, the
man page and the completion.  Also every command's help, and the completion
run the way bash runs it."""
import re
import shlex
import subprocess

import pytest

from conftest import REPO, REPORTD

CONFIG_C = (REPO / "daemon/config.c").read_text()
README = (REPO / "README.md").read_text()
MAN8 = (REPO / "man/reportd.8").read_text()
MAN5 = (REPO / "man/reportd.yaml.5").read_text()
COMPLETION = REPO / "completion/reportd.bash"



def run(*args):
    return subprocess.run([str(REPORTD), *args], capture_output=True, text=True, timeout=30)


# --- configuration keys ----------------------------------------------------------


def source_keys():
    """{key: (kind, required, field)} from config.c's key table, sections left out."""
    keys = {}
    for m in re.finditer(r'\[K_\w+\]\s*=\s*\{"([\w.]+)",\s*\w+,\s*(KIND_\w+),\s*(\d),\s*'
                         r'(?:FIELD\((\w+)\)|0)', CONFIG_C):
        name, kind, required, field = m.groups()
        if kind != "KIND_SECTION":
            keys[name] = (kind, required == "1", field)
    return keys


UNIT_MS = {"ms": 1, "s": 1000, "m": 60000, "h": 3600000, "d": 86400000}


def duration_ms(text):
    """"1h30m" in milliseconds, or None when text is not a duration."""
    parts = re.findall(r"(\d+)(ms|s|m|h|d)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(int(n) * UNIT_MS[u] for n, u in parts)


def same_default(documented, source):
    """A documented default equals the source's: durations by value ("60s" is "1m")."""
    if duration_ms(source) is not None:
        return duration_ms(documented) == duration_ms(source)
    return documented == source


def source_defaults():
    """{key: default as the docs write it} from config_defaults(), for set fields."""
    body = re.search(r"void config_defaults\(struct config \*c\)\n\{(.*?)\n\}", CONFIG_C, re.S)
    units = {"MS_PER_SECOND": 1000, "MS_PER_MINUTE": 60000, "MS_PER_HOUR": 3600000,
             "MS_PER_DAY": 86400000}
    by_field = {field: (name, kind) for name, (kind, _, field) in source_keys().items()}
    defaults = {}
    for field, expr in re.findall(r"c->(\w+) = ([^;]+);", body.group(1)):
        name, kind = by_field[field]
        if kind == "KIND_DURATION":
            value = f"{eval(expr, {}, units)}ms"  # noqa: S307 - our own source's constants
        elif kind == "KIND_BOOL":
            value = "true" if int(expr) else "false"
        elif kind in ("KIND_TLS", "KIND_UNCERTAIN"):
            value = expr.split("_", 1)[1].lower()
        else:
            value = expr
        defaults[name] = value
    return defaults


def readme_config_table():
    """{key: default cell} from the README's configuration reference."""
    section = README.split("## Configuration reference", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        key_cell, default_cell = [c.strip() for c in line.strip("|").split(" | ")[:2]]
        names = re.findall(r"`([^`]+)`", key_cell)
        literals = re.findall(r"`([^`]+)`", default_cell)
        plain = re.fullmatch(r"(`[^`]+`)(, `[^`]+`)*", default_cell)
        for i, name in enumerate(names):
            if plain and len(literals) == len(names):
                rows[name] = literals[i]
            else:
                rows[name] = default_cell
    return rows


def man5_keys():
    """{key: what the man page says in parentheses} from reportd.yaml(5)."""
    return {m.group(1): m.group(2) for m in
            re.finditer(r"^\.It Cm ([\w.]+) Pq (.*)$", MAN5, re.M)}


def test_config_keys_agree_between_source_readme_and_man_page():
    source = set(source_keys())
    assert len(source) > 20, "the key table was not found in daemon/config.c"
    assert set(readme_config_table()) == source
    assert set(man5_keys()) == source


def test_config_defaults_agree_between_source_readme_and_man_page():
    defaults = source_defaults()
    assert len(defaults) > 10, "config_defaults() was not found in daemon/config.c"
    readme, man = readme_config_table(), man5_keys()
    for key, value in defaults.items():
        assert same_default(readme[key], value), (key, readme[key], value)
        m = re.fullmatch(r"default Ql (\S+)", man[key])
        assert m and same_default(m.group(1), value), (key, man[key], value)


def test_required_keys_agree_between_source_readme_and_man_page():
    required = {k for k, (_, req, _) in source_keys().items() if req}
    assert required
    assert {k for k, v in readme_config_table().items() if v == "required"} == required
    assert {k for k, v in man5_keys().items() if v == "required"} == required


# --- commands and options --------------------------------------------------------


def help_commands():
    """The commands `reportd help` lists, in its order."""
    out = run("help").stdout
    section = out.split("commands:\n", 1)[1].split("\n\n", 1)[0]
    names = []
    for line in section.splitlines():
        m = re.match(r"  ([a-z-]+)", line)
        if m and not line.startswith("      ") and m.group(1) not in names:
            names.append(m.group(1))
    return names


def help_options(command):
    """The options `reportd help COMMAND` lists (without -h/--help)."""
    out = run("help", command).stdout
    section = out.split("options:\n", 1)[1]
    return {m for m in re.findall(r"^\s+(--[a-z-]+)", section, re.M) if m != "--help"}


def readme_commands():
    section = README.split("### Day to day", 1)[1].split("\n### ", 1)[0]
    names = set()
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        cell = line.strip("|").split(" | ")[0]
        for span in re.findall(r"`([^`]+)`", cell):
            words = span.split()
            if words[0] == "reportd":
                names.add(words[1])
            elif words[0] != "systemctl":
                names.add(words[0])  # "`hold ID` / `release ID`"
    return names


def man8_commands():
    """{command: options} from reportd(8)'s COMMANDS section."""
    section = MAN8.split(".Sh COMMANDS", 1)[1].split("\n.Sh ", 1)[0]
    commands = {}
    for m in re.finditer(r"^\.It Cm ([a-z-]+)(.*)$", section, re.M):
        opts = commands.setdefault(m.group(1), set())
        opts.update("--" + o for o in re.findall(r"Fl -([a-z-]+)", m.group(2)))
        opts.update("--" + o for o in re.findall(r"\| -([a-z-]+)", m.group(2)))
    return commands


def completion(*words, env=None):
    """The completion function's answer for the words typed, the last being completed."""
    script = (f"source {shlex.quote(str(COMPLETION))}\n"
              f"COMP_WORDS=({' '.join(shlex.quote(w) for w in words)})\n"
              f"COMP_CWORD={len(words) - 1}\n"
              "_reportd\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n")
    p = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], capture_output=True,
                       text=True, cwd=REPO, env=env)
    assert p.returncode == 0, p.stderr
    return [w for w in p.stdout.splitlines() if w]


def test_commands_agree_between_help_readme_man_page_and_completion():
    commands = help_commands()
    assert "run" in commands and "purge" in commands
    assert readme_commands() == set(commands)
    assert set(man8_commands()) == set(commands)
    assert set(completion("reportd", "")) == set(commands)


@pytest.mark.parametrize("command", [
    "run", "check-config", "send-test", "enqueue", "status", "list", "show", "preview", "hold",
    "release", "retry", "purge", "help"])
def test_each_command_help_exits_0_and_agrees_with_man_page_and_completion(command):
    for args in ((command, "--help"), (command, "-h"), ("help", command)):
        p = run(*args)
        assert p.returncode == 0, (args, p.stderr)
        assert re.search(rf"^  reportd .*\b{command}\b", p.stdout, re.M), p.stdout
        assert p.stdout == run("help", command).stdout
    opts = help_options(command)
    # Every option --help names is one the command takes (not refused as a bad option);
    # with a config that does not exist, nothing gets further than loading it.
    for opt in opts:
        p = run("-c", "/nonexistent/reportd.yaml", command, opt, "x")
        assert "bad option" not in p.stderr and "not accepted" not in p.stderr, (opt, p.stderr)
    assert set(completion("reportd", command, "--")) == opts | {"--help"}
    man = man8_commands()[command]
    assert opts == man


def test_help_commands_are_the_ones_the_binary_runs():
    """A command the overview lists is not an unknown command (exit 64 with that message)."""
    for command in help_commands():
        p = run("-c", "/nonexistent/reportd.yaml", command, "--help")
        assert "unknown command" not in p.stderr
    p = run("frobnicate", "--help")
    assert p.returncode == 64 and 'unknown command "frobnicate"' in p.stderr
    p = run("help", "frobnicate")
    assert p.returncode == 64 and 'unknown command "frobnicate"' in p.stderr


# --- the completion as bash runs it --------------------------------------------------


def test_completion_registers_the_function():
    p = subprocess.run(["bash", "--norc", "--noprofile", "-c",
                        f"source {shlex.quote(str(COMPLETION))}; complete -p reportd"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "complete -F _reportd reportd"


def test_completion_completes_states_from_the_binary():
    # The states the binary accepts, from its own refusal of one it does not.
    p = run("-c", str(REPO / "config/reportd.dev.yaml"), "list", "--state", "bogus")
    states = re.search(r"\(([a-z, ]+)\)", p.stderr).group(1).split(", ")
    assert len(states) == 7
    assert completion("reportd", "list", "--state", "") == states
    assert completion("reportd", "list", "--state", "se") == [s for s in states
                                                              if s.startswith("se")]


def test_completion_completes_role_ids_from_the_configured_roles_dir(tmp_path):
    roles = tmp_path / "roles"
    roles.mkdir()
    for name in ("nurse", "pilot", "pianist"):
        (roles / f"{name}.yaml").write_text("title: x\n")
    (roles / "notes.txt").write_text("not a role\n")
    config = tmp_path / "reportd.yaml"
    config.write_text(f"queue:\n  path: x.db\nroles_dir: {roles}  # the roles\n")
    assert completion("reportd", "-c", str(config), "enqueue", "--role", "p") == ["pianist",
                                                                                   "pilot"]
    # $REPORTD_CONFIG when no -c is given, and the shipped roles through a relative roles_dir.
    shipped = sorted(p.stem for p in (REPO / "config/roles").glob("*.yaml"))
    env = {"REPORTD_CONFIG": str(REPO / "config/reportd.dev.yaml"), "PATH": "/usr/bin:/bin"}
    assert completion("reportd", "send-test", "--role", "", env=env) == shipped


def test_completion_completes_global_options_and_help_topics():
    assert set(completion("reportd", "--")) == {"--config", "--verbose", "--help", "--version"}
    assert completion("reportd", "help", "pre") == ["preview"]
    assert completion("reportd", "-v", "-c", "x.yaml", "st") == ["status"]
