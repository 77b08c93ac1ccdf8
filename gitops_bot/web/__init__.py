"""HTTP the bot speaks itself, outside the forge SDKs and the cluster client.

Holds: the HTTP front both small servers share (front, bodysize), the
webhook server and its per-pull-request queue (webhooks, deliveryqueue),
and the signed poke that hands a merge to the puller (poke). Refuses:
anything about what a delivery means (gitops_bot.core.pr and the forge
descriptors decide that).
"""
