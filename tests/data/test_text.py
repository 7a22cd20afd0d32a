"""Sentence splitting of raw text (spertmt.data.text.split_sentences)."""

import pytest

from spertmt.data.text import simple_words, split_sentences, unicode_words


def sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in split_sentences(text, by_lines=False)]


@pytest.mark.parametrize("text", [
    "Navy Capt. Michael Cole and Sheriff 's Lt. Bill Gordon met Mr. Jones and Dr. Ann Lee.",
    "President John F. Kennedy was shot on Nov. 22 , 1963 , in Dallas.",
    "The U.S. Congress met at 2 a.m. EST in Washington D.C. on Friday with Ann Lee, Ph.D. Smith came too.",
    "Ann lives at No. 10 Downing Street, as Fig. 3 shows, after Smith et al. 2007 said so.",
    "As Sect. 2 and Thm. 3 of App. 1 show, it holds (cf. Alg. 4).",
    "Drexel Burnham Lambert Inc. Chairman Fred Joseph resigned.",
])
def test_abbreviations_end_no_sentence(text):
    assert sentences(text) == [text]


@pytest.mark.parametrize("text, expected", [
    ("Ann left. Bob stayed.", ["Ann left. ", "Bob stayed."]),
    ("He won in 2007. Then he lost.", ["He won in 2007. ", "Then he lost."]),
    ("Ann left. 3 men came.", ["Ann left. ", "3 men came."]),
    ("See acme.com. Then call.", ["See acme.com. ", "Then call."]),
    ('Is it? "No," said Bob. (It was.) Émile left!', ['Is it? ', '"No," said Bob. ', "(It was.) ", "Émile left!"]),
    ("Wait... What? Wait\u2026 Then", ["Wait... ", "What? ", "Wait\u2026 ", "Then"]),
    ("北京是中国的首都。李明在北京工作。", ["北京是中国的首都。", "李明在北京工作。"]),
    ("東京にあります。「はい」と言った。", ["東京にあります。", "「はい」と言った。"]),
])
def test_sentence_ends(text, expected):
    assert sentences(text) == expected


def test_no_cut_before_a_lower_case_word_or_a_quote_that_a_lower_case_word_follows():
    # '' tokenised as two quotes (CoNLL04): the sentence goes on after them
    assert sentences("Was he fast ? ' ' said Daniel.") == ["Was he fast ? ' ' said Daniel."]
    assert sentences("It costs $3.50 today. fine.") == ["It costs $3.50 today. fine."]


def test_a_numbering_abbreviation_before_a_word_ends_the_sentence():
    assert sentences("The answer was no. Then he left.") == ["The answer was no. ", "Then he left."]
    assert sentences("See No. 5 here.") == ["See No. 5 here."]


def test_lines_and_ranges_cover_the_text():
    text = "Mr. Lee left. He came back.\n\n  \nDr. Ann Lee stayed"
    ranges = split_sentences(text, by_lines=False)
    assert [text[a:b] for a, b in ranges] == ["Mr. Lee left. ", "He came back.", "Dr. Ann Lee stayed"]
    assert [text[a:b] for a, b in split_sentences(text, by_lines=True)] == ["Mr. Lee left. He came back.",
                                                                            "Dr. Ann Lee stayed"]


def test_an_abbreviation_keeps_its_full_stop_as_a_word():
    text = "Mr. Lee of Acme Inc. met U.S. Sen. Garn at 2 a.m. on No. 5 Main St. Then he left. See no. Fine."
    words = unicode_words(text, offset=10)
    assert [w.text for w in words] == ["Mr.", "Lee", "of", "Acme", "Inc.", "met", "U.S.", "Sen.", "Garn", "at", "2",
                                       "a.m.", "on", "No.", "5", "Main", "St.", "Then", "he", "left", ".", "See",
                                       "no", ".", "Fine", "."]
    assert all(text[w.start - 10:w.end - 10] == w.text for w in words)
    # a state's abbreviation keeps its full stop, which may still end the sentence
    assert [w.text for w in unicode_words("Ann lives in Nashville, Tenn. Bob too.")][4:7] == [",", "Tenn.", "Bob"]
    assert sentences("Ann lives in Nashville, Tenn. Bob too.") == ["Ann lives in Nashville, Tenn. ", "Bob too."]
    # an ideograph is no initial: its full stop stays a word, and ends the sentence
    assert [w.text for w in unicode_words("他去了北京. 他很好.")][4:6] == ["京", "."]
    assert sentences("他去了北京. 他很好.") == ["他去了北京. ", "他很好."]


def test_hyphenated_words_stay_whole_only_when_asked():
    text = "A strife-torn 1-900-WEATHER line, pre- and post-war, x - y, -5."
    assert [w.text for w in unicode_words(text)][:4] == ["A", "strife", "-", "torn"]
    words = unicode_words(text, offset=2, join_hyphens=True)
    assert [w.text for w in words] == ["A", "strife-torn", "1-900-WEATHER", "line", ",", "pre", "-", "and", "post-war",
                                       ",", "x", "-", "y", ",", "-", "5", "."]
    assert all(text[w.start - 2:w.end - 2] == w.text for w in words)
    # an abbreviation's full stop before the hyphen, as CoNLL04 writes "U.S.-led"; a sentence's is no word's
    assert [w.text for w in unicode_words("the U.S.-led talks ended.-Then", join_hyphens=True)] == [
        "the", "U.S.-led", "talks", "ended", ".", "-", "Then"]


def test_format_characters_at_a_words_edges_are_outside_its_offsets_whatever_the_regex_release():
    """A BOM, a zero-width space or joiner beside a word is not in its offsets, and is nothing between
    an abbreviation and its full stop or a hyphen and its parts: regex releases before 2026-11-24 put
    no word boundary after a leading BOM, so "\ufeffAcme" was one segment, offsets 0-5."""
    text = "\ufeffAcme paid\u200b Sen.\u200b 5 dollars to U.S\u200b. strife\u2060-torn\u200d"
    words = unicode_words(text, offset=3, join_hyphens=True)
    assert [(w.text, text[w.start - 3:w.end - 3]) for w in words] == [
        ("Acme", "Acme"), ("paid", "paid"), ("Sen.", "Sen."), ("5", "5"), ("dollars", "dollars"), ("to", "to"),
        ("U.S.", "U.S\u200b."), ("strife-torn", "strife\u2060-torn")]


def test_a_control_character_parts_words_as_a_space_does_and_is_no_word():
    """NUL, BEL or an escape left in a text (a careless export, a binary field) is no word: the model was
    never shown one, and it would come back as an entity's neighbour in every output."""
    text = "Acme\x00Corp hired\x07 Ann \x1b[0m in Oslo\x00."
    words = unicode_words(text, offset=4)
    assert [(w.text, text[w.start - 4:w.end - 4]) for w in words] == [
        ("Acme", "Acme"), ("Corp", "Corp"), ("hired", "hired"), ("Ann", "Ann"), ("[", "["), ("0m", "0m"),
        ("in", "in"), ("Oslo", "Oslo"), (".", ".")]
    assert unicode_words("\x00\x01 \x7f") == []


def test_a_line_break_inside_a_paragraph_is_a_space_and_a_blank_line_or_a_list_item_ends_a_sentence():
    wrapped = "President John F.\nKennedy met Mr. Lee in\r\nBerlin. Then\nhe left.\n\n  \nA new paragraph"
    assert sentences(wrapped) == ["President John F.\nKennedy met Mr. Lee in\r\nBerlin. ", "Then\nhe left.",
                                  "A new paragraph"]
    listed = "We bought:\n- apples from Acme\n- pears and\n  plums\n2. Oslo"
    assert sentences(listed) == ["We bought:", "- apples from Acme", "- pears and\n  plums", "2. Oslo"]
    assert split_sentences("\n \n", by_lines=False) == [] == split_sentences("\n \n", by_lines=True)


@pytest.mark.parametrize("text, words", [
    ("हिन्दी भारत की भाषा है।", ["हिन्दी", "भारत", "की", "भाषा", "है", "।"]),  # vowel signs and virama: marks
    ("ผมอาศัยอยู่", ["ผมอาศัยอยู่"]),  # Thai's marks; no spaces between its words: one run
    ("Cafe\u0301 au lait, km² ½.", ["Cafe\u0301", "au", "lait", ",", "km²", "½", "."]),  # a decomposed accent
    ("well-known O'Brien U.S. 3.5", ["well-known", "O'Brien", "U.S", ".", "3.5"]),
])
def test_the_simple_splitter_keeps_a_letters_combining_marks_on_its_word(text, words):
    """A mark was a word of its own ("ह", "ि", "न", "्", ...): converted brat or doccano text in Hindi or
    Thai lost its words."""
    found = simple_words(text, offset=3)
    assert [w.text for w in found] == words
    assert all(text[w.start - 3:w.end - 3] == w.text for w in found)


@pytest.mark.parametrize("text, sentences", [
    ("हिन्दी भारत की भाषा है। यह दूसरा वाक्य है।", ["हिन्दी भारत की भाषा है।", "यह दूसरा वाक्य है।"]),  # danda
    ("مرحبا. كيف حالك؟ أنا بخير.", ["مرحبا.", "كيف حالك؟", "أنا بخير."]),  # Arabic's question mark
    ("یہ پہلا جملہ ہے۔ یہ دوسرا ہے۔", ["یہ پہلا جملہ ہے۔", "یہ دوسرا ہے۔"]),  # Urdu's full stop
])
def test_the_sentence_stops_of_other_scripts_end_a_sentence(text, sentences):
    assert [text[a:b].strip() for a, b in split_sentences(text, False)] == sentences
