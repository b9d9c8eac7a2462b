"""The dashboard's migration form: the peer, its URL and the credentials it takes."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectField, StringField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

PEER_LABELS = {"yourls": "YOURLS", "kutt": "Kutt", "shlink": "Shlink"}


class MigrateForm(FlaskForm):  # type: ignore[misc]
    peer = SelectField(
        "Move from",
        choices=[SelectChoice(name, label) for name, label in PEER_LABELS.items()],
        validators=[DataRequired()],
    )
    url = StringField(
        "Peer URL",
        validators=[DataRequired(), Length(max=2048)],
        description="Its base URL, https:// on a public address.",
    )
    api_key = PasswordField(
        "API key or YOURLS signature",
        validators=[Length(max=500)],
        description="Kutt and Shlink: an API key. YOURLS: the signature token, or a user below.",
    )
    username = StringField("YOURLS username", validators=[Length(max=200)])
    password = PasswordField("YOURLS password", validators=[Length(max=500)])
    every_user = BooleanField("Every user's links (a Kutt admin key)")
    submit = SubmitField("Start the migration")

    def credential_errors(self) -> list[str]:
        """What the chosen peer needs and the form lacks."""
        if self.peer.data == "yourls":
            if self.api_key.data or (self.username.data and self.password.data):
                return []
            return ["YOURLS needs its signature token, or a username and password."]
        if not self.api_key.data:
            return [f"{PEER_LABELS.get(self.peer.data, 'The peer')} needs an API key."]
        return []
