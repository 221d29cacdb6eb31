"""`mysafe-bot policy check [FILE]` and `mysafe-bot policy explain`: the policy, for operators.

`check` reads a file as start-up would (the same one-line error, exit 2) and lists its rules.
`explain` says which rule a change would meet and why, rule by rule: the entry's tags are read
from MySafe with the person's own key (as a request would), unless `--tags` names them.
"""

from __future__ import annotations

from pathlib import Path

from app.approvals.policy import load_policy
from app.approvals.rules import Defaults, Policy, Rule, Subject
from app.foundations.errors import ConfigError
from app.foundations.settings import Scope, Settings
from app.mysafe.models import Kind
from app.ops.runtime import load_settings, read_policy


def check(file: str | None) -> int:
    settings = load_settings(scope=Scope.NONE)
    path = Path(file) if file else settings.policy_path
    if path is None:
        raise ConfigError("MYSAFE_BOT_POLICY", "no file given and MYSAFE_BOT_POLICY is not set")
    policy = load_policy(path, Defaults.of(settings), strict=bool(settings.approvers))
    print(f"{path}: OK, {len(policy.rules) - 1} rule(s), then the built-in `settings` rule")
    for position, rule in enumerate(policy.rules, start=1):
        print(f"  {position}. {rule.name}: {_conditions(rule)} -> {rule.summary()}")
    for schedule in policy.reviews:  # access reviews on a schedule (app.approvals.review_schedules)
        print(f"  review {schedule.summary()}")
    # What a deployment tells policies apart by (app.approvals.in_force).
    print(f"version {policy.version}, digest {policy.digest}")
    return 0


def publish() -> int:
    """Put MYSAFE_BOT_POLICY's rules, as this environment reads them, in force across the
    deployment whatever their `version:` (going back, or an edit whose version was not
    raised); processes with other rules then decide nothing until they load these."""
    from app.approvals.in_force import RulesInForce
    from app.approvals.policy import PolicyBook
    from app.services import Services

    settings = load_settings(scope=Scope.SERVICE)
    if settings.policy_path is None:
        raise ConfigError("MYSAFE_BOT_POLICY", "not set: there is no policy file to publish")
    services = Services.build(settings)
    try:
        in_force = RulesInForce(services.redis, prefix=settings.key_prefix, book=PolicyBook(settings))
        stamp = in_force.publish()
    finally:
        services.close()
    print(f"{settings.policy_path}: {stamp} is now the deployment's rules in force")
    return 0


def _conditions(rule: Rule) -> str:
    match = rule.match
    parts = [
        f"{label} in [{', '.join(sorted(values))}]"
        for label, values in (
            ("tags", match.tags),
            ("kinds", match.kinds),
            ("verbs", match.verbs),
            ("owners", match.owners),
            ("sources", match.sources),
        )
        if values
    ]
    return "when " + " and ".join(parts) if parts else "always"


def explain(
    *, entry: str, verb: str, user: str, source: str, tags: str | None, file: str | None
) -> int:
    kind, identifier = _entry(entry)
    settings = load_settings(scope=Scope.NONE if tags is not None else Scope.VAULT)
    policy = _policy(settings, file)
    from app.services import Services

    services = Services.build(settings)
    try:
        name = services.vault.mysafe_username(user)
        if tags is None:
            client = services.mysafe.session_for(user, services.vault.credentials(user))
            tags = client.get(kind, identifier).tags
    finally:
        services.close()
    subject = Subject(
        verb=verb,
        kind=kind.value,
        source=source,
        tags=frozenset(t.strip().casefold() for t in tags.split(",") if t.strip()),
        requester=frozenset(filter(None, (user, name and name.casefold()))),
    )
    choice = policy.choose(subject)
    print(
        f"{verb} {kind.value} {identifier} by {user} via {source}: rule “{choice.rule.name}” "
        f"(rule {choice.position} of {len(policy.rules)})"
    )
    for line in choice.why:
        print(f"  {line}")
    print(f"  asks for: {choice.rule.summary()}")
    return 0


def _policy(settings: Settings, file: str | None) -> Policy:
    if file:
        return load_policy(Path(file), Defaults.of(settings), strict=bool(settings.approvers))
    return read_policy(settings, strict=False)


def _entry(text: str) -> tuple[Kind, int]:
    kind, _, number = text.partition(":")
    if kind not in ("password", "secret") or not number.isdigit() or len(number) > 12:
        raise ConfigError("--entry", "expected password:ID or secret:ID, e.g. password:312")
    return Kind(kind), int(number)
