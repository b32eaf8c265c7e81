"""The experiment machinery on top of the plugin: recipes (read, validate, build), runs and their
comparison, summaries, figures and the pre-run check. :mod:`hf_challenger.cli` is the command line
over it; the plugin (the trainer, its arguments and config, ``lrp``, ``challenge``, ``models``,
``data``, ``metrics``) never imports from here.
"""
