"""Experiment configs: the schema of every key, loading `get_config()` files, overrides, validation."""

import ast
import difflib
import importlib.util
import json
import pathlib

import ml_collections

from stackae.core.activations import ACTIVATIONS, NON_NEGATIVE, SELF_APPLIED
from stackae.core.inits import INITS
from stackae.core.losses import RECONSTRUCTIONS
from stackae.core.noise import NOISES
from stackae.core.optim import SCHEDULES
from stackae.core.rbm import HIDDEN_UNITS
from stackae.errors import ConfigError
from stackae.methods import RANDOM_INITS, parse_method

OPTIMIZERS = ("sgd", "adam")
# Per-layer keys of `pretrain`: a single value for every layer, or a tuple with one value per layer.
PER_LAYER_KEYS = (
    "layer", "contraction", "cd_steps", "persistent", "activation", "tied", "init", "reconstruction", "noise",
    "noise_level", "preact_noise", "l1_activation", "l1_weight", "l2_weight", "optimizer", "learning_rate",
    "momentum", "initial_momentum", "momentum_warmup_epochs", "schedule", "batch_size", "epochs",
)
LAYER_KINDS = ("dae", "cae", "rbm")  # the greedy layers of pretrain.layer
COMPARE_REMEDIES = ("batch_norm", "dropout", "clip", "residual")  # what finetune.compare_remedies may join with +
CONFIGS_DIR = pathlib.Path(__file__).parent / "configs"


def base_config() -> ml_collections.ConfigDict:
    """Every key a config may set, with its default; experiment configs start from this."""
    c = ml_collections.ConfigDict()
    c.name = "default"
    c.dataset = "digits"  # "digits" (embedded), a TFDS image-classification name, or a path to your files
    c.valid_data = ""  # a validation file of the dataset's format (files only); "" carves valid_fraction of train
    c.test_data = ""  # a test file of the dataset's format (files only); "" carves test_fraction of train
    c.label_column = "label"  # the label column of a CSV file
    c.image_size = ()  # (height, width) to resize a folder's images to on reading; () keeps their size
    c.input_scale = 1.0  # inputs read from files are divided by this (255 for 0-255 pixel values)
    c.data_dir = ""  # TFDS data_dir; "" for the TFDS default
    c.manual_dir = ""  # folder with the dataset's original files, to prepare TFDS data offline
    c.download_retries = 10  # HTTP retries of a TFDS download (with backoff); 0 fails fast when offline
    c.valid_fraction = 0.1  # carved deterministically from train
    c.test_fraction = 0.2  # only for datasets without a test split (digits, files without test_data)
    c.labels_per_class = 0  # labelled examples per class for fine-tuning; 0 = all
    c.seed = 0
    c.seeds = 1  # independent models trained at once (seed, seed + 1, ...)
    c.layers = (256, 256)  # hidden layer sizes, bottom to top
    c.checkpoint_every = 1  # epochs between resumable checkpoints
    c.diagnostics = True  # per-epoch gradient norms and activation statistics in the history; False is a bit faster

    p = c.pretrain = ml_collections.ConfigDict()
    p.layer = "dae"  # the greedy layer: dae, cae (contractive) or rbm (restricted Boltzmann machine, CD-k)
    p.contraction = 0.1  # cae: weight of the squared Frobenius norm of the encoder's Jacobian
    p.cd_steps = 1  # rbm: Gibbs steps k of contrastive divergence (CD-k)
    p.persistent = False  # rbm: persistent CD (Tieleman 2008): batch_size chains carried on; wants a small rate
    p.activation = "relu"  # rbm: hidden units sigmoid (Bernoulli), linear (Gaussian) or relu (noisy rectified)
    p.tied = True
    p.init = "glorot"
    p.reconstruction = "auto"  # or one of stackae.core.losses.RECONSTRUCTIONS
    p.noise = "masking"
    p.noise_level = 0.25
    p.preact_noise = 0.0  # std of Gaussian noise on the lower layer's pre-activation (layers >= 2)
    p.l1_activation = 1e-3
    p.l1_weight = 0.0
    p.l2_weight = 0.0
    p.optimizer = "sgd"
    p.learning_rate = 0.01
    p.momentum = 0.9
    p.initial_momentum = 0.5  # sgd: the momentum of the first momentum_warmup_epochs epochs of each layer
    p.momentum_warmup_epochs = 0  # e.g. 5 with initial_momentum 0.5: Hinton's practical guide for RBMs
    p.schedule = "constant"  # or "cosine": decay to 0 over the layer's epochs
    p.batch_size = 32
    p.epochs = 20

    f = c.finetune = ml_collections.ConfigDict()
    f.optimizer = "sgd"
    f.learning_rate = 0.05
    f.momentum = 0.9
    f.schedule = "constant"  # or "cosine": decay to 0 over finetune.epochs
    f.batch_size = 32
    f.epochs = 100  # maximum; early stopping on validation error usually ends sooner
    f.patience = 15
    f.random_init = "he"  # init of the random baseline (glorot, he, orthogonal, lecun, small_gaussian)
    f.compare_remedies = ""  # scripts/compare.py: remedies both arms fine-tune with, e.g. "dropout"
    f.l2_weight = 0.0
    f.dropout = 0.5  # dropout rate on hidden units, for methods with +dropout
    f.clip_norm = 1.0  # global gradient-norm bound, for methods with +clip
    f.bn_momentum = 0.9  # decay of batch norm's running statistics, for methods with +batch_norm
    # semi-supervised remedies (+pseudo_label, +mean_teacher, +reconstruction); ramps in optimiser steps
    f.unlabelled_batch_size = 128  # unlabelled minibatch per step, drawn from the whole training pool
    f.pseudo_label_alpha_final = 3.0  # Lee 2013's alpha_f: weight of the pseudo-label cost after the ramp
    f.pseudo_label_ramp_start = 200  # alpha is 0 before this step ...
    f.pseudo_label_ramp_end = 1000  # ... and rises linearly to alpha_final at this step
    f.mean_teacher_weight = 10.0  # weight of the consistency cost after its ramp-up
    f.mean_teacher_ramp = 1000  # steps of the sigmoid-shaped ramp-up exp(-5 (1 - t)^2)
    f.mean_teacher_ema = 0.99  # the teacher's moving-average decay
    f.mean_teacher_noise = 0.3  # std of the Gaussian input noise, drawn apart for student and teacher
    f.reconstruction_weight = 0.01  # weight of each layer's DAE reconstruction cost (one value or one per layer)

    d = c.ladder = ml_collections.ConfigDict()  # the ladder network and its Gamma model (methods ladder, gamma)
    d.noise_std = 0.3  # std of the Gaussian noise added to the input and to every normalised layer (corrupted path)
    d.denoising_weights = (1000.0, 10.0, 0.1, 0.1)  # lambda per layer: input, each hidden layer, top (softmax)
    d.gamma_weight = 0.5  # the Gamma model's lambda on the top layer (its only denoising cost)
    d.learning_rate = 0.002  # Adam, as the paper; plain runs (the sweep uses sweep.ladder_learning_rates)
    d.decay_start = 0.67  # fraction of training after which the rate decays linearly to 0

    a = c.autoencoder = ml_collections.ConfigDict()  # deep autoencoder: reconstruction fine-tuning
    a.optimizer = "sgd"
    a.learning_rate = 0.01
    a.momentum = 0.9
    a.schedule = "constant"  # or "cosine": decay to 0 over autoencoder.epochs
    a.batch_size = 128
    a.epochs = 50  # maximum; early stopping on validation squared error usually ends sooner
    a.rate_drop_epochs = ()  # after each of these many epochs the learning rate is multiplied by rate_drop_factor
    a.rate_drop_factor = 0.1
    a.patience = 10
    a.adam_learning_rate = 0.001  # the Adam baseline of scripts/autoencoder.py
    a.decoders = "recipe"  # hidden decoder units: recipe = each layer's reconstruction units; mirror = encoders'

    s = c.sweep = ml_collections.ConfigDict()
    s.methods = ("glorot", "he", "orthogonal", "lsuv", "data_dependent", "he+batch_norm", "dae", "dae+batch_norm",
                 "dae_linear_probe")  # see stackae.methods: init[+batch_norm][+dropout][+clip][+residual]
    s.labels_per_class = (3, 10)  # label budgets, per class; 0 = every training label
    s.seeds = 3  # seeds (seed, seed + 1, ...) per budget
    s.seeds_all_labels = 3  # seeds for the all-labels budget
    s.learning_rates = (0.01, 0.03, 0.1)  # fine-tuning grid; every method picks its rate on validation
    s.steps = 300  # optimiser steps per fine-tuning run (one value, or one per budget)
    s.semi_supervised_steps = 1500  # the same for methods with a semi-supervised remedy (one value, or one per budget)
    s.ladder_steps = 1500  # the same for the ladder network and the Gamma model (one value, or one per budget)
    s.ladder_learning_rates = (0.002,)  # their Adam grid, chosen on validation as the others
    s.eval_every = 25  # steps between validation evaluations, early stopping, best restore (or one per budget)
    s.valid_per_class = 0  # labelled validation examples per class; 0 = as many as the budget, at least 10
    s.cell_checkpoint_every = 0  # evaluations between a cell's resume checkpoints; 0: a killed cell starts again
    s.batch_size = 32  # fine-tuning minibatch, capped at the labelled set's size (or one per budget)
    return c


def load_config(path: str | None, overrides: dict[str, str] | None = None) -> ml_collections.ConfigDict:
    """Load `get_config()` from a Python file at `path` (default: the digits config), or a config.json saved
    by a run; apply command-line overrides; validate."""
    path = pathlib.Path(path) if path else CONFIGS_DIR / "digits.py"
    if not path.is_file():
        hint = f" (for an override write --config.{path}, with a dot)" if "=" in str(path) else ""
        raise ConfigError(f"config file {path} does not exist{hint}; pass --config=PATH to a Python file with "
                          "get_config() or to a run's config.json.")
    cfg = config_from_json(path.read_text()) if path.suffix == ".json" else _config_from_python(path)
    for key, value in (overrides or {}).items():
        apply_override(cfg, key, value)
    validate(cfg)
    return cfg


def _config_from_python(path: pathlib.Path) -> ml_collections.ConfigDict:
    spec = importlib.util.spec_from_file_location(f"stackae_config_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        raise ConfigError(f"config file {path} failed to load ({type(e).__name__}: {e}); fix the file.") from e
    if not callable(getattr(module, "get_config", None)):
        raise ConfigError(f"config file {path} has no get_config(); define one that returns a ConfigDict.")
    try:
        cfg = module.get_config()
    except Exception as e:
        raise ConfigError(f"get_config() in {path} raised {type(e).__name__}: {e}; fix the file.") from e
    if not isinstance(cfg, ml_collections.ConfigDict):
        raise ConfigError(f"get_config() in {path} returned {type(cfg).__name__}, not a ConfigDict; "
                          "start from stackae.config.base_config().")
    return cfg


def config_from_json(text: str) -> ml_collections.ConfigDict:
    """Rebuild a config saved with `cfg.to_json()` (tuples come back as tuples)."""
    def tuples(x):
        if isinstance(x, dict):
            return {k: tuples(v) for k, v in x.items()}
        return tuple(tuples(v) for v in x) if isinstance(x, list) else x
    try:
        data = json.loads(text)
    except ValueError as e:
        raise ConfigError(f"a saved config.json is not valid JSON ({e}); delete it or fix it.") from e
    if not isinstance(data, dict):
        raise ConfigError("a saved config.json does not hold a config object; delete it or fix it.")
    cfg = base_config()  # keys added since the file was saved keep their defaults
    with cfg.ignore_type():
        cfg.update(ml_collections.ConfigDict(tuples(data)))
    return cfg


def canonical_json(cfg) -> str:
    """The config as JSON with sorted keys: equal strings mean equal configs."""
    return json.dumps(json.loads(cfg.to_json()), sort_keys=True)


def _closest(key: str, valid) -> str:
    match = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.5)
    return f"; did you mean '{match[0]}'?" if match else f"; valid keys: {', '.join(sorted(valid))}."


def _flat_keys(cfg, prefix=""):
    out = {}
    for k, v in cfg.items():
        name = f"{prefix}{k}"
        if isinstance(v, (ml_collections.ConfigDict, dict)):
            out.update(_flat_keys(v, name + "."))
        else:
            out[name] = v
    return out


def _parse_value(text: str, default):
    """Parse a command-line value as a Python literal, falling back to the raw string."""
    if isinstance(default, bool) and text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        pass
    if text.startswith("(") and text.endswith(")"):  # per-layer names without quotes: (relu,tanh)
        return tuple(_parse_value(item.strip(), default) for item in text[1:-1].split(",") if item.strip())
    return text


def apply_override(cfg, key: str, text: str):
    """Set `cfg.<key>` from the command-line string `text`."""
    schema = _flat_keys(base_config())
    if key not in schema:
        raise ConfigError(f"unknown config key '{key}'{_closest(key, schema)}")
    *parents, leaf = key.split(".")
    node = cfg
    for p in parents:
        node = node[p]
    value = _parse_value(text, schema[key])
    if isinstance(value, list):
        value = tuple(value)
    if isinstance(schema[key], tuple) and isinstance(value, int) and not isinstance(value, bool):
        value = (value,)  # --config.layers=256: one layer
    with node.ignore_type():
        node[leaf] = value


def _check_type(key, value, default):
    want = type(default)
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, tuple):
        ok = isinstance(value, (tuple, list))
    else:
        ok = isinstance(value, want)
    if not ok:
        raise ConfigError(f"config key '{key}' must be of type {want.__name__}, got {value!r}"
                          f"{_example(key, default)}.")


def _example(key, default) -> str:
    """How to write the default of `key` on the command line (tuples quoted for the shell)."""
    text = repr(default if not isinstance(default, tuple) else tuple(default)).replace(" ", "")
    return f", e.g. --config.{key}='{text}'" if isinstance(default, tuple) else f", e.g. --config.{key}={text}"


def _choice(key, value, choices):
    if value not in choices:
        raise ConfigError(f"config key '{key}' is {value!r}; choose one of: {', '.join(choices)}.")


def _range(key, value, ok: bool, what: str):
    if not ok:
        raise ConfigError(f"config key '{key}' is {value!r} but must be {what}.")


def validate(cfg):
    """Check keys, types and ranges before any data loading or compilation; raise ConfigError."""
    schema = _flat_keys(base_config())
    given = _flat_keys(cfg)
    for key in given:
        if key not in schema:
            raise ConfigError(f"unknown config key '{key}'{_closest(key, schema)}")
    for key, default in schema.items():
        if key not in given:
            raise ConfigError(f"config is missing key '{key}'; start configs from stackae.config.base_config().")
    layers = cfg.layers
    _check_type("layers", layers, schema["layers"])
    _range("layers", layers, len(layers) > 0 and all(isinstance(n, int) and not isinstance(n, bool) and n > 0
                                                      for n in layers), "a non-empty tuple of positive ints")
    for key, default in schema.items():
        value = given[key]
        leaf = key.split(".")[-1]
        if key.startswith("pretrain.") and leaf in PER_LAYER_KEYS and isinstance(value, (tuple, list)):
            n = len(layers)
            allowed = "one value (one layer)" if n == 1 else f"one value or {n} values (one per layer)"
            _range(key, value, len(value) == n, allowed)
            for v in value:
                _check_type(key, v, default)
                _check_value(key, leaf, v)
        elif key.startswith("sweep."):
            _check_sweep_key(key, leaf, value, default, cfg)
        elif key not in ("layers", "finetune.reconstruction_weight"):
            _check_type(key, value, default)
            _check_value(key, leaf, value)
    if cfg.autoencoder.decoders == "mirror" and SELF_APPLIED & set(activations_of(cfg)[:-1]):
        raise ConfigError("autoencoder.decoders='mirror' cannot mirror a prelu or rrelu layer (their slopes live in "
                          "the encoder); use autoencoder.decoders='recipe' or another activation.")
    _check_data_files(cfg)
    _check_rbm_layers(cfg)
    if "rbm" in {parse_method(m).stack_kind for m in cfg.sweep.methods}:
        _check_rbm_layers(with_layer_kind(cfg, "rbm"))
    _check_semi_supervised(cfg)
    if any(parse_method(m).ladder_network for m in cfg.sweep.methods):
        check_ladder(cfg)
    late = [e for e in cfg.autoencoder.rate_drop_epochs if e >= cfg.autoencoder.epochs]
    if late:
        raise ConfigError(f"autoencoder.rate_drop_epochs holds {late[0]}, but a drop after that many epochs never "
                          f"happens in autoencoder.epochs={cfg.autoencoder.epochs}; drop earlier or train longer.")
    for k in range(1, len(layers)):
        below = layer_config(cfg, k - 1).activation
        if layer_config(cfg, k).preact_noise > 0 and below in SELF_APPLIED:
            raise ConfigError(f"pretrain.preact_noise of layer {k + 1} needs noise before layer {k}'s nonlinearity, "
                              f"but {below} applies its own (learned or random) slope inside layer {k}; set "
                              f"preact_noise to 0 for layer {k + 1} or choose another activation for layer {k}.")


def reconstruction_of(cfg, k: int) -> str:
    """Layer k's reconstruction loss; "auto" = sigmoid cross-entropy on pixels, softplus squared error on
    non-negative codes (Glorot/Gulcehre), linear squared error on signed codes. For an rbm layer it names the
    visible units: sigmoid cross-entropy = Bernoulli (pixels, sigmoid codes), linear squared error = Gaussian."""
    chosen = layer_config(cfg, k).reconstruction
    if chosen != "auto":
        return chosen
    if k == 0:
        return "sigmoid_cross_entropy"
    lower = layer_config(cfg, k - 1).activation
    if layer_config(cfg, k).layer == "rbm":
        return "sigmoid_cross_entropy" if lower == "sigmoid" else "linear_squared_error"
    return "softplus_squared_error" if lower in NON_NEGATIVE else "linear_squared_error"


def with_layer_kind(cfg, kind: str):
    """A copy of `cfg` whose every pretraining layer is of `kind` (dae, cae or rbm): the stack of a sweep method.
    A cae stack is Rifai et al.'s, contraction instead of input noise (pretrain.layer=cae with noise is the
    hybrid); an rbm ignores the noise keys."""
    c = cfg.copy_and_resolve_references()
    with c.ignore_type():
        c.pretrain.layer = kind
        if kind == "cae":
            c.pretrain.noise, c.pretrain.preact_noise = "none", 0.0
    return c


def _check_rbm_layers(cfg):
    for k in range(len(cfg.layers)):
        lc = layer_config(cfg, k)
        if lc.layer != "rbm":
            continue
        if lc.activation not in HIDDEN_UNITS:
            raise ConfigError(f"layer {k + 1} is an rbm with {lc.activation} hidden units; an rbm's "
                              "pretrain.activation is sigmoid (Bernoulli), linear (Gaussian) or relu (noisy rectified).")
        if not lc.tied:
            raise ConfigError(f"layer {k + 1} is an rbm, whose one weight matrix serves both directions; set "
                              "pretrain.tied=True for it.")
        if lc.persistent and lc.activation != "sigmoid" and reconstruction_of(cfg, k) == "linear_squared_error":
            raise ConfigError(f"layer {k + 1} is a persistent-CD rbm with Gaussian visible and {lc.activation} "
                              "hidden units, whose model distribution need not be normalisable (its chains can run away); "
                              "give it pretrain.persistent=False (CD-k) or sigmoid hidden units, e.g. "
                              "--config.pretrain.persistent='(True,False)'.")
        if reconstruction_of(cfg, k) not in ("sigmoid_cross_entropy", "linear_squared_error"):
            raise ConfigError(f"layer {k + 1} is an rbm with pretrain.reconstruction={lc.reconstruction}; its "
                              "visible units are sigmoid_cross_entropy (Bernoulli) or linear_squared_error "
                              "(Gaussian), or auto.")


def _check_data_files(cfg):
    from stackae.files import is_data_path

    for key in ("valid_data", "test_data"):
        if cfg[key] and not is_data_path(cfg.dataset):
            raise ConfigError(f"config key '{key}' names a file, but dataset '{cfg.dataset}' is not read from files; "
                              "give --config.dataset=PATH to your training file, or drop the key.")


def _check_semi_supervised(cfg):
    f = cfg.finetune
    if f.pseudo_label_ramp_end < f.pseudo_label_ramp_start:
        raise ConfigError(f"finetune.pseudo_label_ramp_end={f.pseudo_label_ramp_end} comes before "
                          f"finetune.pseudo_label_ramp_start={f.pseudo_label_ramp_start}; the ramp must end at or "
                          "after the step it starts.")
    weights = f.reconstruction_weight
    n = len(cfg.layers)
    if isinstance(weights, (tuple, list)):
        _range("finetune.reconstruction_weight", weights, len(weights) == n,
               "one value (one layer)" if n == 1 else f"one value or {n} values (one per layer)")
    for w in weights if isinstance(weights, (tuple, list)) else (weights,):
        _check_type("finetune.reconstruction_weight", w, 0.0)
        _range("finetune.reconstruction_weight", w, w >= 0, ">= 0")


def check_ladder(cfg):
    """One sentence when the ladder's lambdas do not match the network (one per layer: input, hidden, top)."""
    weights, n = cfg.ladder.denoising_weights, len(cfg.layers) + 2
    _range("ladder.denoising_weights", weights, len(weights) == n,
           f"{n} values, one per layer of the ladder (the input, the {len(cfg.layers)} hidden layers of "
           f"layers={tuple(cfg.layers)}, the top)")


PER_BUDGET_KEYS = ("steps", "semi_supervised_steps", "ladder_steps", "eval_every", "batch_size")


def _check_sweep_key(key, leaf, value, default, cfg):
    if leaf in PER_BUDGET_KEYS:
        values = value if isinstance(value, (tuple, list)) else (value,)
        n_budgets = len(cfg.sweep.labels_per_class)
        _range(key, value, len(values) in (1, n_budgets), f"one value or {n_budgets} values (one per budget)")
        for v in values:
            _check_type(key, v, 0)
            _range(key, v, v > 0, "> 0")
        return
    _check_type(key, value, default)
    if isinstance(default, tuple):
        _range(key, value, len(value) > 0, "a non-empty tuple (the grid has no values)")
    if leaf == "methods":
        for name in value:
            parse_method(name)
    elif leaf == "labels_per_class":
        _range(key, value, all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value),
               "a tuple of ints >= 0 (0 means all labels)")
    elif leaf in ("learning_rates", "ladder_learning_rates"):
        _range(key, value, all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in value),
               "a tuple of numbers > 0")
    else:
        _check_value(key, leaf, value)


def _check_value(key, leaf, v):
    checks = {
        "activation": lambda: _choice(key, v, ACTIVATIONS),
        "layer": lambda: _choice(key, v, LAYER_KINDS),
        "contraction": lambda: _range(key, v, v >= 0, ">= 0"),
        "cd_steps": lambda: _range(key, v, v >= 1, ">= 1 (CD-1 is one Gibbs step)"),
        "init": lambda: _choice(key, v, INITS),
        "random_init": lambda: _choice(key, v, RANDOM_INITS),
        "compare_remedies": lambda: _range(key, v, all(r in COMPARE_REMEDIES for r in v.split("+")) if v else True,
                                           f"'' or remedies joined by +, from {', '.join(COMPARE_REMEDIES)} "
                                           "(e.g. 'dropout' or 'batch_norm+dropout')"),
        "decoders": lambda: _choice(key, v, ("recipe", "mirror")),
        "reconstruction": lambda: _choice(key, v, ("auto", *RECONSTRUCTIONS)),
        "noise": lambda: _choice(key, v, NOISES),
        "optimizer": lambda: _choice(key, v, OPTIMIZERS),
        "schedule": lambda: _choice(key, v, SCHEDULES),
        "noise_level": lambda: _range(key, v, 0 <= v < 1, "in [0, 1)"),
        "preact_noise": lambda: _range(key, v, v >= 0, ">= 0"),
        "learning_rate": lambda: _range(key, v, v > 0, "> 0"),
        "adam_learning_rate": lambda: _range(key, v, v > 0, "> 0"),
        "momentum": lambda: _range(key, v, 0 <= v < 1, "in [0, 1)"),
        "initial_momentum": lambda: _range(key, v, 0 <= v < 1, "in [0, 1)"),
        "momentum_warmup_epochs": lambda: _range(key, v, v >= 0, ">= 0 (0: no warm-up)"),
        "batch_size": lambda: _range(key, v, v > 0, "> 0"),
        "epochs": lambda: _range(key, v, v > 0, "> 0"),
        "patience": lambda: _range(key, v, v > 0, "> 0"),
        "seeds": lambda: _range(key, v, v > 0, "> 0"),
        "seed": lambda: _range(key, v, v >= 0, ">= 0"),
        "download_retries": lambda: _range(key, v, v >= 0, ">= 0"),
        "checkpoint_every": lambda: _range(key, v, v > 0, "> 0"),
        "labels_per_class": lambda: _range(key, v, v >= 0, ">= 0 (0 means all labels)"),
        "valid_fraction": lambda: _range(key, v, 0 < v < 1, "in (0, 1)"),
        "test_fraction": lambda: _range(key, v, 0 < v < 1, "in (0, 1)"),
        "l1_activation": lambda: _range(key, v, v >= 0, ">= 0"),
        "l1_weight": lambda: _range(key, v, v >= 0, ">= 0"),
        "l2_weight": lambda: _range(key, v, v >= 0, ">= 0"),
        "dataset": lambda: _range(key, v, bool(v.strip()), "a dataset name such as digits or mnist, or a path"),
        "image_size": lambda: _range(key, v, len(v) in (0, 2) and all(isinstance(n, int) and not isinstance(n, bool)
                                                                       and n > 0 for n in v),
                                     "() or (height, width) in pixels, e.g. '(28,28)'"),
        "input_scale": lambda: _range(key, v, v > 0, "> 0"),
        "dropout": lambda: _range(key, v, 0 <= v < 1, "in [0, 1)"),
        "clip_norm": lambda: _range(key, v, v > 0, "> 0"),
        "bn_momentum": lambda: _range(key, v, 0 <= v < 1, "in [0, 1)"),
        "eval_every": lambda: _range(key, v, v > 0, "> 0"),
        "rate_drop_epochs": lambda: _range(key, v, all(isinstance(e, int) and not isinstance(e, bool) and e > 0
                                                       for e in v) and list(v) == sorted(set(v)),
                                           "a tuple of increasing epoch counts > 0"),
        "rate_drop_factor": lambda: _range(key, v, 0 < v <= 1, "in (0, 1]"),
        "seeds_all_labels": lambda: _range(key, v, v > 0, "> 0"),
        "cell_checkpoint_every": lambda: _range(key, v, v >= 0, ">= 0 (0: no checkpoints within a cell)"),
        "valid_per_class": lambda: _range(key, v, v >= 0, ">= 0 (0 means as many as the budget, at least 10)"),
        "unlabelled_batch_size": lambda: _range(key, v, v > 0, "> 0"),
        "pseudo_label_alpha_final": lambda: _range(key, v, v >= 0, ">= 0"),
        "pseudo_label_ramp_start": lambda: _range(key, v, v >= 0, ">= 0 (an optimiser step)"),
        "pseudo_label_ramp_end": lambda: _range(key, v, v >= 0, ">= 0 (an optimiser step)"),
        "mean_teacher_weight": lambda: _range(key, v, v >= 0, ">= 0"),
        "mean_teacher_ramp": lambda: _range(key, v, v >= 0, ">= 0 (optimiser steps)"),
        "mean_teacher_ema": lambda: _range(key, v, 0 <= v < 1, "in [0, 1)"),
        "mean_teacher_noise": lambda: _range(key, v, v >= 0, ">= 0"),
        "noise_std": lambda: _range(key, v, v >= 0, ">= 0"),
        "denoising_weights": lambda: _range(key, v, all(isinstance(w, (int, float)) and not isinstance(w, bool)
                                                        and w >= 0 for w in v), "a tuple of numbers >= 0"),
        "gamma_weight": lambda: _range(key, v, v >= 0, ">= 0"),
        "decay_start": lambda: _range(key, v, 0 <= v <= 1, "in [0, 1]"),
    }
    if leaf in checks:
        checks[leaf]()


def layer_config(cfg, k: int) -> ml_collections.ConfigDict:
    """The pretraining settings of layer k (0-based), per-layer tuples resolved."""
    out = ml_collections.ConfigDict()
    for key in PER_LAYER_KEYS:
        v = cfg.pretrain[key]
        out[key] = v[k] if isinstance(v, (tuple, list)) else v
    return out


def activations_of(cfg) -> tuple[str, ...]:
    """Hidden activation of every layer."""
    return tuple(layer_config(cfg, k).activation for k in range(len(cfg.layers)))
