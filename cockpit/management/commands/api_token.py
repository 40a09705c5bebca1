"""Issue, list and revoke REST API tokens: `manage.py api_token create --user alice --name ci [--days 90]`."""
from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from cockpit.models import ApiToken


class Command(BaseCommand):
    help = "Issue (create), list or revoke the API tokens REST clients send instead of a password."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="issue a token; it is printed once and never stored")
        create.add_argument("--user", required=True)
        create.add_argument("--name", required=True, help="what the token is for (e.g. the client's name)")
        create.add_argument("--days", type=int, default=None, help="expire after this many days (default: never)")
        listing = actions.add_parser("list", help="list tokens (never the tokens themselves)")
        listing.add_argument("--user")
        revoke = actions.add_parser("revoke", help="delete a token by its id")
        revoke.add_argument("id", type=int)

    def handle(self, *args, action: str, **options):
        if action == "create":
            user = get_user_model().objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"No user named {options['user']!r}")
            days = options["days"]
            if days is not None and days < 1:
                raise CommandError("--days must be at least 1")
            expires = timezone.now() + timedelta(days=days) if days else None
            row, token = ApiToken.issue(user=user, name=options["name"], expires=expires)
            self.stderr.write(f"Token {row.id} for {user.username} ({row.name}); it is shown only now:")
            self.stdout.write(token)
        elif action == "list":
            rows = ApiToken.objects.select_related("user")
            if options["user"]:
                rows = rows.filter(user__username=options["user"])
            for row in rows:
                expires = f"expires {row.expires:%Y-%m-%d}" if row.expires else "never expires"
                used = f"last used {row.last_used:%Y-%m-%d %H:%M}" if row.last_used else "never used"
                self.stdout.write(f"{row.id}\t{row.user.username}\t{row.name}\t{row.hint}…\t{expires}\t{used}")
        else:
            deleted, _ = ApiToken.objects.filter(pk=options["id"]).delete()
            if not deleted:
                raise CommandError(f"No token with id {options['id']}")
            self.stdout.write(f"Revoked token {options['id']}")
