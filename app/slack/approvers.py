"""Who may approve: the configured user IDs, plus members of the configured Slack user groups.

"Configured" means a request's own policy rule when it has one (`may_decide`), and any rule of
the policy in force for the views that ask "is this person an approver at all" (`in`).

Group membership comes from Slack (`usergroups.users.list`) and is cached in Redis for at most
30 seconds (and dropped at once when Slack says the group changed, `subteam_members_changed`),
so someone removed from the group stops approving within seconds, while a burst of clicks
does not wait on Slack and every worker agrees. If Slack cannot be asked,
the answer is "not an approver": an outage never widens who may approve.
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from app.approvals.change_request import ChangeRequest
from app.approvals.policy import PolicyBook
from app.foundations.settings import Settings, is_user_group
from app.foundations.storage import RedisClient

log = logging.getLogger(__name__)

GROUP_CACHE_SECONDS = 30


class Approvers:
    def __init__(
        self,
        settings: Settings,
        redis: RedisClient,
        slack: WebClient,
        *,
        policy: PolicyBook | None = None,
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.slack = slack
        self.policy = policy

    def _key(self, group_id: str) -> str:
        return f"{self.settings.key_prefix}:approver-group:{group_id}"

    def __contains__(self, user_id: object) -> bool:
        return self.listed(user_id, self._everyone())

    def may_decide(self, user_id: str, request: ChangeRequest) -> bool:
        """Whether `user_id` is among the approvers of the rule `request` was made under
        (a request from before policies: the settings' approvers)."""
        return self.listed(user_id, request.approvers or self.settings.approvers)

    def listed(self, user_id: object, approvers: frozenset[str]) -> bool:
        if user_id in {a for a in approvers if not is_user_group(a)}:
            return True
        return any(user_id in self.members(g) for g in sorted(approvers) if is_user_group(g))

    def _everyone(self) -> frozenset[str]:
        if self.policy is None:
            return self.settings.approvers
        return frozenset().union(*(r.approvers for r in self.policy.current.rules))

    def forget(self, group_id: str) -> None:
        """The group changed in Slack: the next click reads it afresh."""
        self.redis.delete(self._key(group_id))

    def members(self, group_id: str) -> set[str]:
        key = self._key(group_id)
        cached = self.redis.get(key)
        if cached is not None:
            return set(filter(None, cached.split(",")))
        try:
            users = self.slack.usergroups_users_list(usergroup=group_id)["users"]
        except SlackApiError as error:
            log.warning(
                "cannot read approver group",
                extra={
                    "event": "approvers.group_error",
                    "group": group_id,
                    "error": error.response.get("error", ""),
                },
            )
            return set()
        self.redis.set(key, ",".join(users), ex=GROUP_CACHE_SECONDS)
        return set(users)
