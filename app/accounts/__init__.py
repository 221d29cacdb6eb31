"""Each person's linked MySafe key (encrypted) and who a Slack mention means in MySafe."""
