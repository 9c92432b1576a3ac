from __future__ import annotations

import pytest

from ompo_envs.lm import PLAIN_CHAT_TEMPLATE, ChatFormat, LMPolicy
from ompo_envs.lm.prompting import messages_key

from .conftest import CONVERSATION


def test_prompt_uses_the_tokenizers_chat_template(policy):
    assert policy.format.prompt_text(CONVERSATION) == (
        f"<|user|>\n{CONVERSATION[0]['content']}</s>\n<|assistant|>\n"
    )
    assert not policy.format.uses_plain_template


def test_plain_template_when_the_tokenizer_has_none(policy):
    tokenizer = policy.tokenizer
    saved, tokenizer.chat_template = tokenizer.chat_template, None
    try:
        chat = ChatFormat(tokenizer)
        text = chat.prompt_text(
            [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
        )
    finally:
        tokenizer.chat_template = saved
    assert chat.chat_template == PLAIN_CHAT_TEMPLATE
    assert text == "<s>System: Be brief.\n\nUser: Hi\n\nAssistant: "


def test_answer_ids_end_with_the_end_of_answer_token(policy):
    ids = policy.format.answer_ids("rock")
    assert ids[-1] == policy.tokenizer.eos_token_id
    assert policy.tokenizer.decode(ids[:-1]) == "rock"
    assert policy.format.answer_ids("") == [policy.tokenizer.eos_token_id]


def test_prompt_ids_are_a_prefix_of_prompt_plus_answer(policy):
    prompt = policy.format.prompt_ids(CONVERSATION)
    full = policy.tokenizer(policy.format.prompt_text(CONVERSATION), add_special_tokens=False)
    assert prompt == full["input_ids"]


def test_model_without_tokenizer_is_a_clear_error(policy, tmp_path):
    with pytest.raises(TypeError, match="needs the model's tokenizer"):
        LMPolicy(policy.model, None)
    policy.model.save_pretrained(tmp_path)  # weights only, no tokenizer files
    with pytest.raises(ValueError, match="tokenizer"):
        LMPolicy.from_pretrained(tmp_path)


def test_messages_key_checks_shape():
    assert messages_key(CONVERSATION) == (("user", CONVERSATION[0]["content"]),)
    with pytest.raises(TypeError, match="list of"):
        messages_key("hello")
    with pytest.raises(ValueError, match="empty"):
        messages_key([])
    with pytest.raises(TypeError, match="string 'role' and 'content'"):
        messages_key([{"role": "user", "content": 3}])
