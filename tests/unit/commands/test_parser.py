"""The slash-command grammar: what people type becomes a typed command, or a reply saying why not.

Texts are written as Slack sends them: a mention is `<@U…|name>`, a link `<https://…|…>`, and
`&`, `<`, `>` typed by a person arrive as `&amp;`, `&lt;`, `&gt;`.
"""

from __future__ import annotations

import re

import pytest

from app.foundations.errors import ValidationError
from app.mysafe.models import Entry, Kind
from app.slack.command_text import parse, quote, tokenize, unescape
from app.slack.replies import message_text
from commands import VERBS
from commands.help import help_text
from commands.parser import CommandError
from commands.types import (
    Cancel,
    ChatChannel,
    ChatUser,
    ChatUserGroup,
    Create,
    EntryRef,
    Help,
    KeyValue,
    ListEntries,
    Login,
    Logout,
    McpToken,
    MySafeGroup,
    MySafeUser,
    Requests,
    Rotate,
    Share,
    Show,
    Unshare,
    Update,
    WhoAmI,
    WhoHasAccess,
    Word,
)

P312 = EntryRef(Kind.PASSWORD, 312)
S7 = EntryRef(Kind.SECRET, 7)
ALICE = ChatUser("U1ABC")
BOB = ChatUser("U2BOB")

HAPPY = [
    ("", Help(None)),
    ("   ", Help(None)),
    ("help", Help(None)),
    ("HELP Share", Help("share")),
    ("help mcp-token", Help("mcp-token")),
    ("login", Login()),
    ("Logout", Logout()),
    ("whoami", WhoAmI()),
    ("list passwords", ListEntries(Kind.PASSWORD, "")),
    ("list password", ListEntries(Kind.PASSWORD, "")),
    ("list secrets github  api", ListEntries(Kind.SECRET, "github api")),
    ("list api-secrets", ListEntries(Kind.SECRET, "")),
    ('list passwords "prod  db"', ListEntries(Kind.PASSWORD, "prod  db")),
    ("list passwords a &amp; b", ListEntries(Kind.PASSWORD, "a & b")),
    ("list passwords don't", ListEntries(Kind.PASSWORD, "don't")),
    ("list passwords page 2", ListEntries(Kind.PASSWORD, "", 2)),
    ("list secrets github page 3", ListEntries(Kind.SECRET, "github", 3)),
    ('list passwords "page" 2', ListEntries(Kind.PASSWORD, "page 2")),
    ("list passwords page", ListEntries(Kind.PASSWORD, "page")),
    ("show password 312", Show(P312)),
    ("show PASSWORDS #312", Show(P312)),
    ("show secret 7", Show(S7)),
    ("show api-secret 7", Show(S7)),
    ("show password 2147483647", Show(EntryRef(Kind.PASSWORD, 2**31 - 1))),
    ("access password 312", WhoHasAccess(P312)),
    ("Access secret #7", WhoHasAccess(S7)),
    ("share password 312 with <@U1ABC|alice>", Share(P312, (ALICE,))),
    ("share password 312 with <@U1ABC>", Share(P312, (ALICE,))),
    ("share password 312 to <@U1ABC>", Share(P312, (ALICE,))),
    ("share password 312 With <@U1ABC|alice> EDIT", Share(P312, (ALICE,), edit=True)),
    ("share password 312 with <@U1ABC|alice> can_edit", Share(P312, (ALICE,), edit=True)),
    ("share password 312 with <@U1ABC|alice> <@U2BOB|bob>", Share(P312, (ALICE, BOB))),
    ("share password 312 with <@U1ABC|alice>, <@U2BOB|bob>", Share(P312, (ALICE, BOB))),
    ("share password 312 with <@U1ABC|alice>,<@U2BOB|bob>", Share(P312, (ALICE, BOB))),
    ("share password 312 with <@U1ABC|alice> and <@U2BOB|bob>", Share(P312, (ALICE, BOB))),
    ("share password 312 with <@U1ABC|alice> <@U1ABC|alice>", Share(P312, (ALICE,))),
    ("share password 312 with user:carol", Share(P312, (MySafeUser("carol"),))),
    (
        "share password 312 with User:carol,user:dave",
        Share(P312, (MySafeUser("carol"), MySafeUser("dave"))),
    ),
    ('share secret 7 with group:"Ops team"', Share(S7, (MySafeGroup("Ops team"),))),
    ("share secret 7 with group:“Ops team”", Share(S7, (MySafeGroup("Ops team"),))),
    ("share secret 7 with group:'Ops team'", Share(S7, (MySafeGroup("Ops team"),))),
    ("share secret 7 with group:ops", Share(S7, (MySafeGroup("ops"),))),
    ('share secret 7 with group:"A, B", <@U1ABC>', Share(S7, (MySafeGroup("A, B"), ALICE))),
    (
        'share password 312 with <@U1ABC|alice> reason "on call"',
        Share(P312, (ALICE,), reason="on call"),
    ),
    (
        'share password 312 with <@U1ABC|alice> reason="on call" edit',
        Share(P312, (ALICE,), edit=True, reason="on call"),
    ),
    (
        "share password 312 with <@U1ABC|alice> reason “on call”",
        Share(P312, (ALICE,), reason="on call"),
    ),
    (
        "share password 312 with <@U1ABC|alice> reason ‘on call’",
        Share(P312, (ALICE,), reason="on call"),
    ),
    (
        'share password 312 with edit <@U1ABC|alice> reason "a &amp; b"',
        Share(P312, (ALICE,), edit=True, reason="a & b"),
    ),
    ("unshare password 312 from <@U1ABC|alice>", Unshare(P312, (ALICE,))),
    (
        'unshare secret 7 from user:bob, group:"Ops" reason "left"',
        Unshare(S7, (MySafeUser("bob"), MySafeGroup("Ops")), reason="left"),
    ),
    ("update password 312 notes=hello", Update(P312, {"notes": "hello"})),
    ('update password 312 notes="two words"', Update(P312, {"notes": "two words"})),
    ("update password 312 notes=“two words”", Update(P312, {"notes": "two words"})),
    ("update password 312 notes=”two words”", Update(P312, {"notes": "two words"})),
    ("update password 312 notes='it''s'", Update(P312, {"notes": "its"})),
    ('update password 312 notes=""', Update(P312, {"notes": ""})),
    ("update password 312 NAME=gmail Tags=prod", Update(P312, {"name": "gmail", "tags": "prod"})),
    ("update password 312 url=<https://x.io|x.io>", Update(P312, {"url": "https://x.io"})),
    ("update password 312 url=<https://x.io>", Update(P312, {"url": "https://x.io"})),
    ("update password 312 username=<mailto:a@b.io|a@b.io>", Update(P312, {"username": "a@b.io"})),
    ("update password 312 notes=&lt;b&gt;&amp;", Update(P312, {"notes": "<b>&"})),
    ('update password 312 notes="ask <@U1ABC|alice>"', Update(P312, {"notes": "ask <@U1ABC|alice>"})),
    (
        'update secret 7 client-id=abc method=post reason "new"',
        Update(S7, {"client_id": "abc", "method": "post"}, reason="new"),
    ),
    ("rotate password 312", Rotate(P312)),
    ("rotate secret #7", Rotate(S7)),
    ("create password", Create(Kind.PASSWORD)),
    ("create api-secret", Create(Kind.SECRET)),
    ("requests", Requests()),
    ("cancel R-7K2QF", Cancel("R-7K2QF")),
    ("cancel r-7k2qf", Cancel("R-7K2QF")),
    ("mcp-token", McpToken(False)),
    ("MCP-TOKEN revoke", McpToken(True)),
]


@pytest.mark.parametrize(("text", "expected"), HAPPY, ids=[t or "<empty>" for t, _ in HAPPY])
def test_commands_parse_to_typed_results(text: str, expected: object) -> None:
    assert parse(text) == expected


ERRORS = [
    # (text, verb the error is for, words the message must contain)
    ("frobnicate", None, ["frobnicate", "share", "mcp-token"]),
    ("<@U1ABC|alice>", None, ["@alice", "help"]),
    ("help frobnicate", "help", ["frobnicate", "share"]),
    ("help share extra", "help", ['"extra"']),
    ("login now", "login", ['"now"']),
    ("logout please", "logout", ['"please"']),
    ("whoami x", "whoami", ['"x"']),
    ("requests all", "requests", ['"all"']),
    ("list", "list", ["password or secret"]),
    ("list github", "list", ['"github"', "password or secret"]),
    ("list passwords " + "x" * 101, "list", ["100"]),
    ("list passwords token=abc", "list", ["token", "rotate"]),
    ("show", "show", ["password or secret"]),
    ("show password", "show", ["which password", "password 312"]),
    ("show password abc", "show", ['"abc"', "number"]),
    ("show password 0", "show", ["between 1 and"]),
    ("show password -3", "show", ['"-3"']),
    ("show password 2147483648", "show", ["between 1 and"]),
    ("show password 99999999999", "show", ["99999999999"]),
    ("show password #", "show", ['"#"']),
    ("show password 3.5", "show", ['"3.5"']),
    ("access password", "access", ["which password", "password 312"]),
    ("access password 312 extra", "access", ['"extra"']),
    ("show password 312 now", "show", ['"now"']),
    ("show password <@U1ABC>", "show", ["not an entry ID"]),
    ("share password 312", "share", ['"with"']),
    ("share password 312 <@U1ABC|alice>", "share", ['"with"']),
    ("share password 312 with", "share", ["say who"]),
    ("share password 312 with edit", "share", ["say who"]),
    ("share password 312 with alice", "share", ['"alice"']),
    ("share password 312 with @alice", "share", ["not a Slack mention", "user:NAME"]),
    ("share password 312 with <!here>", "share", ["@here is not a person"]),
    ("share password 312 with <#C1|x>", "share", ["#x", "a channel is not a person"]),
    (
        "share password 312 with <!subteam^S1|@x>",
        "share",
        ["@x", "a Slack user group is not a MySafe group", 'group:"Name"'],
    ),
    ("share password 312 with user:", "share", ["user: needs a name"]),
    ('share password 312 with group:""', "share", ["group: needs a name"]),
    ("share password 312 with user:" + "a" * 129, "share", ["128"]),
    ("share password 312 with " + " ".join(f"user:u{i}" for i in range(51)), "share", ["50"]),
    ("share password 312 with <@U1ABC> reason", "share", ["reason"]),
    ('share password 312 with <@U1ABC> reason ""', "share", ["reason is empty"]),
    ('share password 312 with <@U1ABC> reason "a" reason "b"', "share", ["twice"]),
    ('share password 312 with <@U1ABC> reason "' + "r" * 501 + '"', "share", ["500"]),
    ("share password 312 with <@U1ABC> reason on call", "share", ['"call"', "in quotes"]),
    ("share password 312 with <@U1ABC> notes=x", "share", ['"notes=…"']),
    ('share password 312 with <@U1ABC> "edit"', "share", ['"edit"']),
    ("unshare password 312 to <@U1ABC>", "unshare", ['"from"']),
    ("unshare password 312 from <@U1ABC> edit", "unshare", ['"edit"']),
    ("unshare password 312 from", "unshare", ["say who"]),
    ("update password 312", "update", ["say what to change", "notes"]),
    ("update password 312 reason=x", "update", ["say what to change"]),
    ("update password 312 colour=red", "update", ['"colour"', "name, url, username, notes, tags"]),
    ("update secret 7 username=x", "update", ['"username"', "client_id"]),
    ("update password 312 notes=a notes=b", "update", ["notes is given twice"]),
    ("update password 312 notes=two words", "update", ['"words"', 'notes="…"']),
    ("update password 312 notes", "update", ["notes=VALUE"]),
    ("update password 312 <@U1ABC|alice>", "update", ['"@alice"']),
    ('update password 312 notes="open', "update", ["never closed"]),
    ("cancel", "cancel", ["which request"]),
    ("cancel R-12345", "cancel", ['"R-12345"', "R-7K2QF"]),
    ("cancel 7K2QF", "cancel", ['"7K2QF"']),
    ("cancel R-7K2QF now", "cancel", ['"now"']),
    ("create", "create", ["password or secret"]),
    ("create password name=x", "create", ['"name=…"', "form"]),
    ("rotate password", "rotate", ["which password"]),
    ("rotate password 312 password", "rotate", ['"password"']),
    ("mcp-token please", "mcp-token", ['"please"']),
    ("mcp-token revoke revoke", "mcp-token", ['"revoke"']),
    ('list passwords "open', "list", ["never closed"]),
    ("list passwords “open", "list", ["never closed"]),
    ("list passwords 'open", "list", ["never closed"]),
    ("list passwords " + "x" * 4000, "list", ["too long", "4000"]),
    ("list passwords a\x00b", "list", ["control characters"]),
]


@pytest.mark.parametrize(("text", "verb", "words"), ERRORS, ids=[t[:60] for t, _, _ in ERRORS])
def test_bad_commands_say_what_was_wrong_and_show_the_form(
    text: str, verb: str | None, words: list[str]
) -> None:
    with pytest.raises(CommandError) as caught:
        parse(text)
    error = caught.value
    assert isinstance(error, ValidationError)
    assert error.verb == verb
    assert error.usage == (VERBS[verb].SPEC.usage if verb else error.usage)
    assert error.usage.startswith("/mysafe ")
    for word in words:
        assert word in str(error)
    assert error.errors and all(isinstance(m, str) for m in error.errors.values())


def test_share_error_shows_the_share_form() -> None:
    with pytest.raises(CommandError) as caught:
        parse("share password 312 with")
    assert caught.value.usage == (
        "/mysafe share password|secret ID with @someone… [edit] "
        '[for 8h [rotate-after]] [emergency] [reason "…"] [ticket KEY]'
    )


@pytest.mark.parametrize(
    ("text", "ticket"),
    [
        ("share password 312 with <@U1|alice> ticket SEC-142", "SEC-142"),
        ('share password 312 with <@U1|alice> reason "x" ticket=OPS-7', "OPS-7"),
        (
            "unshare password 312 from user:bob ticket <https://jira.example.com/browse/SEC-9>",
            "https://jira.example.com/browse/SEC-9",
        ),
        ("update password 312 notes=x ticket SEC-1", "SEC-1"),
    ],
)
def test_a_ticket_is_read_after_the_keyword(text: str, ticket: str) -> None:
    assert parse(text).ticket == ticket


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("share password 312 with user:bob ticket", "say which ticket"),
        ("share password 312 with user:bob ticket hello", "a ticket is a key such as SEC-142"),
        ("share password 312 with user:bob ticket A-1 ticket B-2", "the ticket is given twice"),
        ("update password 312 notes=x ticket=javascript:alert(1)", "a ticket is a key"),
    ],
)
def test_a_bad_ticket_is_refused_with_the_form(text: str, words: str) -> None:
    with pytest.raises(CommandError, match=words):
        parse(text)


def test_a_tickets_link_becomes_its_key_and_url() -> None:
    from commands.tickets import reference

    assert reference("SEC-142") == {"key": "SEC-142"}
    assert reference("https://jira.example.com/browse/SEC-9") == {
        "key": "SEC-9",
        "url": "https://jira.example.com/browse/SEC-9",
    }
    assert reference("") == {}


@pytest.mark.parametrize(
    ("text", "seconds", "rotate"),
    [
        ('share password 312 with <@U1|alice> edit for 8h reason "on-call"', 8 * 3600, False),
        ("share password 312 with user:carol for 1d12h", 36 * 3600, False),
        ("share password 312 for 30m with user:carol", None, False),
        ("share password 312 with user:carol FOR 2D rotate-after", 2 * 86400, True),
        ("share password 312 with user:carol", 0, False),
    ],
)
def test_share_takes_a_period(text: str, seconds: int | None, rotate: bool) -> None:
    if seconds is None:  # `for` belongs after `with …`, never between the entry and `with`
        with pytest.raises(CommandError):
            parse(text)
        return
    command = parse(text)
    assert isinstance(command, Share)
    assert (command.duration, command.rotate_after) == (seconds, rotate)


def test_share_for_a_period_may_be_an_emergency() -> None:
    command = parse('share password 312 with user:carol edit for 1h emergency reason "INC-123 db down"')
    assert isinstance(command, Share)
    assert (command.duration, command.emergency, command.reason) == (3600, True, "INC-123 db down")
    assert parse("share password 312 with user:carol for 1h").emergency is False


FORM = "30m, 8h, 2d or 1d12h"


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("share password 312 with user:carol for", FORM),
        ("share password 312 with user:carol for 8", FORM),
        ("share password 312 with user:carol for 8x", FORM),
        ("share password 312 with user:carol for 8h8h", FORM),
        ("share password 312 with user:carol for 2w", FORM),
        ('share password 312 with user:carol for "8h"', FORM),
        ("share password 312 with user:carol for 8h for 2h", "given twice"),
        ("share password 312 with user:carol rotate-after", "for 8h rotate-after"),
        ("share password 312 with user:carol emergency", "for 1h emergency"),
        ("unshare password 312 from user:carol emergency", '"emergency" is not expected'),
        ("unshare password 312 from user:carol for 8h", '"for" is not expected'),
    ],
)
def test_a_bad_period_is_refused_saying_what_to_write(text: str, said: str) -> None:
    with pytest.raises(CommandError) as caught:
        parse(text)
    assert said in str(caught.value)


SECRETS = [
    "update password 3 password=hunter2",
    "update password 3 PASSWORD=hunter2 notes=x",
    "update password 3 notes=x password='hunter2'",
    'update secret 3 client_secret="hunter2"',
    "update secret 3 client-secret=hunter2",
    "update password 3 secret_key=hunter2",
    "update password 3 token=hunter2",
    "update password 3 pwd=hunter2",
    "update password 3 password hunter2",
    "update password 3 password: hunter2",
    "update password 3 password:hunter2",
    "share password 3 with <@U1ABC> password=hunter2",
    "share password 3 password=hunter2",
    "unshare password 3 from user:bob token:hunter2",
    "create password password=hunter2",
    "rotate password 3 password=hunter2",
    "list passwords password=hunter2",
    "show password 3 client_secret=hunter2",
]


@pytest.mark.parametrize("text", SECRETS)
def test_a_typed_secret_is_refused_without_echoing_it(text: str) -> None:
    with pytest.raises(CommandError) as caught:
        parse(text)
    error = caught.value
    everything = " ".join([str(error), repr(error.errors), error.usage, repr(error.args)])
    assert "hunter2" not in everything
    assert "/mysafe rotate" in str(error) and "/mysafe create" in str(error)


def test_secret_refusal_points_to_rotate_for_that_entry() -> None:
    with pytest.raises(CommandError) as caught:
        parse("update secret 7 client_secret=s3cr3t")
    assert "`/mysafe rotate secret 7`" in str(caught.value)
    assert caught.value.errors.keys() == {"client_secret"}


def test_update_fields_are_read_only_and_in_typed_order() -> None:
    command = parse("update password 1 tags=b name=a")
    assert isinstance(command, Update)
    assert list(command.fields) == ["tags", "name"]
    with pytest.raises(TypeError):
        command.fields["notes"] = "x"  # type: ignore[index]


@pytest.mark.parametrize("kind", list(Kind))
def test_every_plain_field_can_be_updated(kind: Kind) -> None:
    fields = Entry.PLAIN_FIELDS[kind]
    command = parse(f"update {kind.value} 1 " + " ".join(f"{f}=v{i}" for i, f in enumerate(fields)))
    assert command == Update(EntryRef(kind, 1), {f: f"v{i}" for i, f in enumerate(fields)})


# --- Slack's escaping ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a &amp; b &lt;c&gt;", "a & b <c>"),
        ("&amp;lt;", "&lt;"),
        ("see <https://x.io|x.io>", "see https://x.io"),
        ("see <https://x.io/a?b=1&amp;c=2>", "see https://x.io/a?b=1&c=2"),
        ("mail <mailto:a@b.io|a@b.io>", "mail a@b.io"),
        ("hi <@U1ABC|alice>", "hi <@U1ABC|alice>"),
        ("in <#C1|general>", "in <#C1|general>"),
        ("1 < 2", "1 < 2"),
    ],
)
def test_unescape_undoes_slack_escaping_but_keeps_mentions(text: str, expected: str) -> None:
    assert unescape(text) == expected


def test_tokenizer_keeps_mentions_channels_and_groups_as_tokens() -> None:
    tokens = tokenize("<@U1ABC|alice> <#C1|x> <!subteam^S1|@x> <https://x.io|x.io> a&amp;b")
    assert tokens[:3] == [ChatUser("U1ABC"), ChatChannel("C1"), ChatUserGroup("S1")]
    assert [getattr(t, "label", None) for t in tokens[:3]] == ["alice", "x", "@x"]
    assert [t.text for t in tokens[3:]] == ["https://x.io", "a&b"]


def test_tokenizer_groups_quotes_and_reads_key_value() -> None:
    tokens = tokenize("notes=\"two words\" “curly words” ‘single curly’ 'straight' k=“v w”")
    assert tokens[0] == KeyValue("notes", "two words")
    assert [t.text for t in tokens[1:4]] == ["curly words", "single curly", "straight"]
    assert tokens[4] == KeyValue("k", "v w")


def test_a_quoted_key_value_is_just_text() -> None:
    (token,) = tokenize('"notes=x"')
    assert isinstance(token, Word) and token.text == "notes=x" and not token.bare


def test_apostrophes_inside_words_are_letters() -> None:
    assert [t.text for t in tokenize("don't O'Brien don’t")] == ["don't", "O'Brien", "don’t"]


@pytest.mark.parametrize(
    "value",
    [
        "",
        "plain",
        "two words",
        'say "hi"',
        "it's",
        "“curly” and ‘single’",
        "\"'“”",
        "<b> & c",
        "&amp;",
        "<@U1ABC|alice>",
        "notes=x",
        "  padded  ",
        "tab\there",
    ],
)
def test_quote_is_read_back_exactly(value: str) -> None:
    (token,) = tokenize(quote(value))
    assert isinstance(token, Word) and token.text == value
    assert parse(f"update password 1 notes={quote(value)}") == Update(
        EntryRef(Kind.PASSWORD, 1), {"notes": value}
    )


# --- help is generated from the grammar ----------------------------------------------------


def test_verbs_are_registered_in_display_order() -> None:
    assert list(VERBS) == [
        "help",
        "login",
        "logout",
        "whoami",
        "list",
        "show",
        "access",
        "share",
        "unshare",
        "update",
        "rotate",
        "create",
        "disable",
        "enable",
        "requests",
        "cancel",
        "mcp-token",
        "passkey",
    ]
    for name, verb in VERBS.items():
        assert verb.SPEC.name == name
        assert verb.SPEC.usage.startswith(f"/mysafe {name}")
        assert verb.SPEC.summary and verb.SPEC.examples


def _as_slack_sends(example: str) -> str:
    """Slack turns a picked `@name` into `<@U…|name>` and sends the text after `/mysafe `."""
    text = example.removeprefix("/mysafe").strip()
    return re.sub(r"(?<![\w<])@(\w+)", r"<@U0EXAMPLE|\1>", text)


EXAMPLES = [(name, example) for name, verb in VERBS.items() for example in verb.SPEC.examples]


@pytest.mark.parametrize(("name", "example"), EXAMPLES, ids=[e for _, e in EXAMPLES])
def test_every_documented_example_parses(name: str, example: str) -> None:
    assert example.startswith(f"/mysafe {name}")
    command = parse(_as_slack_sends(example))
    assert type(command).__name__ != "Help" or name == "help"


def test_help_lists_every_verb_with_its_usage_and_summary() -> None:
    *lines, words = message_text(help_text()).splitlines()
    assert len(lines) == len(VERBS)
    for line, verb in zip(lines, VERBS.values(), strict=True):
        assert verb.SPEC.usage in line and verb.SPEC.summary in line
    assert words.startswith("Verbs in Portuguese: ") and "compartilhar = share" in words


@pytest.mark.parametrize("name", list(VERBS))
def test_help_for_a_verb_shows_usage_summary_and_examples(name: str) -> None:
    spec = VERBS[name].SPEC
    assert parse(f"help {name}") == Help(name)
    page = message_text(help_text(name))
    for text in (spec.usage, spec.summary, *spec.examples):
        assert text in page
