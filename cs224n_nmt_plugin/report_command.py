# ``cs224n-nmt report``: the HTML error-analysis report of text/report.py, of a translations file or,
# with --checkpoint, of a model's own translations, loaded through translator.py: the one part that
# needs fairseq and torch, kept out of text/.
from cs224n_nmt_plugin.text import report
from cs224n_nmt_plugin.text.files import write_files
from cs224n_nmt_plugin.text.report import add_arguments, build_report, output_files, print_summary, read_inputs

__doc__ = report.__doc__  # what --help shows
__all__ = ["add_arguments", "run"]


def run(args):
    sources, references = read_inputs(args)
    translations = None
    if args.checkpoint is not None:
        from cs224n_nmt_plugin.translator import Translator

        translations = Translator(args.checkpoint, args.data_bin).translate(sources)
    built, hypotheses = build_report(args, sources, references, translations)
    write_files(output_files(built, args.out, hypotheses))
    print_summary(built, args.out)
