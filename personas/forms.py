"""Site forms. They only shape HTML input; validation rules live in ``personas.services``."""

from __future__ import annotations

from django import forms

from personas.llm import allowed_models, llm_configured
from personas.models import AnswerLength


class PersonaForm(forms.Form):
    display_name = forms.CharField(max_length=100, label="Display name")
    bio = forms.CharField(max_length=500, required=False, label="Short bio", widget=forms.Textarea(attrs={"rows": 2}))
    instructions = forms.CharField(
        max_length=4000, required=False, label="Instructions",
        help_text="Tone, style, and what your persona should decline to talk about.",
        widget=forms.Textarea(attrs={"rows": 6}),
    )
    chat_model = forms.ChoiceField(required=False, label="Chat model")
    temperature = forms.FloatField(min_value=0.0, max_value=2.0, label="Temperature",
                                   help_text="0 = focused and repeatable, 2 = very free.")
    max_memories = forms.IntegerField(min_value=1, max_value=50, label="Memories to use per answer")
    answer_length = forms.ChoiceField(choices=AnswerLength.choices, label="Answer length")
    enabled = forms.BooleanField(required=False, label="Others may ask my persona")
    listed = forms.BooleanField(
        required=False, label="List my persona in the directory",
        help_text="Off: people find your persona only through a link you give them (or a memory you share with them).",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        models = allowed_models() if llm_configured() else []
        choices = [("", f"Server default ({models[0]})" if models else "Server default")]
        choices += [(m, m) for m in models[1:]]
        self.fields["chat_model"].choices = choices
        if not llm_configured():
            self.fields["chat_model"].help_text = "No language model is configured on this server: answers quote your memories."


class AskForm(forms.Form):
    prompt = forms.CharField(max_length=4000, label="Your question", widget=forms.Textarea(attrs={"rows": 3}))
