"""``--task cs224n_translation``: fairseq's translation task, with the generator chosen by
``--search``:

    homework  the starter code's beam search (homework/beam_search.py), the default
    fairseq   fairseq's SequenceGenerator, with every fairseq generation option

Training, validation and the data are the translation task's, unchanged. fairseq-generate,
fairseq-interactive and the hub all build their generator through the task, so the search
applies to each of them; ``--score-reference`` scores references with fairseq's scorer whatever
the search.

The homework's search defines its beam size and step limit only: an option that would change
its search or its scores is refused in one line (UnsupportedOption) rather than ignored.
"""
import copy
from dataclasses import dataclass, field

from fairseq.dataclass import ChoiceEnum
from fairseq.tasks import register_task
from fairseq.tasks.translation import TranslationConfig, TranslationTask
from omegaconf import open_dict

from cs224n_nmt_plugin.errors import UnsupportedOption
from cs224n_nmt_plugin.homework.beam_search import HomeworkBeamSearch
from cs224n_nmt_plugin.settings import SEARCHES, TASK


@dataclass
class CS224nTranslationConfig(TranslationConfig):
    search: ChoiceEnum(SEARCHES) = field(
        default="homework",
        metadata={"help": "homework: the CS224n starter's beam search (beam size and step limit from --beam, "
                          "--max-len-a, --max-len-b); fairseq: fairseq's SequenceGenerator and its options"},
    )


def refused_options(args):
    """One message for every generation option of ``args`` (fairseq's GenerationConfig) that is
    set to something the homework's search does not define."""
    def get(name, default):
        return getattr(args, name, default)

    undefined = {
        "--sampling": get("sampling", False),
        "--diverse-beam-groups": get("diverse_beam_groups", -1) > 0,
        "--diversity-rate": get("diversity_rate", -1) > -1,
        "--constraints": bool(get("constraints", None)),
        "--prefix-size": get("prefix_size", 0) > 0,
        "--match-source-len": get("match_source_len", False),
        "--no-repeat-ngram-size": get("no_repeat_ngram_size", 0) > 0,
        "--lenpen": get("lenpen", 1) != 1,
        "--unkpen": get("unkpen", 0) != 0,
        "--temperature": get("temperature", 1.0) != 1.0,
        "--min-len": get("min_len", 1) > 1,  # fairseq's default 1 means nothing to a search with no minimum
        "--print-step": get("print_step", False),
        "--retain-iter-history": get("retain_iter_history", False),
        "--lm-path": bool(get("lm_path", None)),
    }
    messages = [f"{option} is not part of the homework's beam search (--search homework): use --search fairseq "
                f"for fairseq's generator" for option, is_set in undefined.items() if is_set]
    if get("nbest", 1) > get("beam", 5):
        messages.append(f"--nbest {get('nbest', 1)} is more than the homework's beam search completes "
                        f"(--beam {get('beam', 5)})")
    return messages


@register_task(TASK, dataclass=CS224nTranslationConfig)
class CS224nTranslationTask(TranslationTask):
    """fairseq's TranslationTask whose generator is the homework's beam search unless ``--search fairseq``."""

    @classmethod
    def of_translation_task(cls, task, search):
        """This task over a loaded translation task's configuration and dictionaries (a checkpoint
        trained with ``--task translation``), with ``search``."""
        cfg = copy.deepcopy(task.cfg)
        with open_dict(cfg):
            cfg.search = search
        return cls(cfg, task.src_dict, task.tgt_dict)

    def build_generator(self, models, args, seq_gen_cls=None, extra_gen_cls_kwargs=None, prefix_allowed_tokens_fn=None):
        if self.cfg.search == "fairseq" or getattr(args, "score_reference", False):
            return super().build_generator(models, args, seq_gen_cls, extra_gen_cls_kwargs, prefix_allowed_tokens_fn)
        refused = refused_options(args)
        if prefix_allowed_tokens_fn is not None or (extra_gen_cls_kwargs or {}).get("lm_model") is not None:
            refused.append("prefix_allowed_tokens_fn and language models are not part of the homework's beam search")
        if refused:
            raise UnsupportedOption(refused[0])
        return HomeworkBeamSearch(models, self.target_dictionary, beam_size=getattr(args, "beam", 5),
                                  max_len_a=getattr(args, "max_len_a", 0), max_len_b=getattr(args, "max_len_b", 200),
                                  print_alignment=getattr(args, "print_alignment", None))
