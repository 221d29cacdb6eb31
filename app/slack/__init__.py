"""The Slack front: Bolt listeners for commands, buttons, modals and the Home tab, Block Kit
rendering, the notifier that keeps messages in step, Socket Mode.
"""
