"""Every key aistack reads or writes, declared once: its unit and its meaning.

``FIELDS`` maps a key to ``(unit, meaning)``; ``COMMANDS`` lists, per command and in output order,
the input keys and the result keys it emits (every row carries all of them, ``null`` where not
computed). Renderers read the unit to format a value, ``--check`` to parse a threshold, the
JSON Schema (``aistack schema``) and ``docs/cli.md`` are generated from here, and a test fails when
a command emits a key that is not declared for it.

One key, one meaning: ``weights_bytes`` is the whole model everywhere; the share of one GPU is
``weights_bytes_per_gpu``. Machine formats carry base SI units (bytes, seconds, watts, FLOP, USD).

Standard library only, and small: this module is on every command's start-up path.
"""

from __future__ import annotations

# The units a key can carry. A renderer formats by unit; --check reads a threshold in it.
UNITS = {
    "B": "bytes", "B/s": "bytes per second (one direction)", "FLOP": "floating-point operations",
    "FLOP/s": "floating-point operations per second", "s": "seconds", "h": "hours", "W": "watts",
    "Wh": "watt-hours", "USD": "US dollars", "USD/h": "US dollars per hour",
    "USD/kWh": "US dollars per kilowatt-hour", "fraction": "a fraction of one (0.4 = 40 %)",
    "ratio": "a dimensionless ratio", "count": "a count", "tokens": "tokens", "tokens/s": "tokens per second",
    "1/s": "events per second", "g/kWh": "grams of CO2 per kilowatt-hour", "L/kWh": "litres per kilowatt-hour",
    "kg": "kilograms", "L": "litres", "mm": "millimetres", "mm2": "square millimetres",
    "1/cm2": "defects per square centimetre", "year": "a calendar year", "text": "a word",
    "id": "a catalog id", "bool": "true or false",
}

F = tuple[str, str]

FIELDS: dict[str, F] = {
    # ---- models -------------------------------------------------------------------------
    "model": ("id", "model sheet id (null: a model given by its shape)"),
    "params_total": ("count", "parameters of the whole model"),
    "params_active": ("count", "parameters active per token (MoE: shared plus the routed experts chosen)"),
    "layers": ("count", "transformer layers"),
    "hidden_size": ("count", "model width"),
    "heads": ("count", "attention (query) heads"),
    "kv_heads": ("count", "key/value heads (GQA; 1 for MQA)"),
    "head_dim": ("count", "dimension of one attention head"),
    "attention": ("text", "attention kind: mha, gqa, mqa or mla"),
    "kv_lora_rank": ("count", "MLA latent rank of the compressed KV"),
    "qk_rope_head_dim": ("count", "MLA decoupled RoPE key dimension"),
    "sliding_window": ("tokens", "sliding-window span of the window layers"),
    "sliding_window_layers": ("count", "layers that use the sliding window"),
    "tokens": ("tokens", "training tokens"),
    "seq_len": ("tokens", "training sequence length"),
    # ---- accelerators and systems ---------------------------------------------------------
    "gpu": ("id", "accelerator sheet id"),
    "gpus": ("count", "accelerators"),
    "system": ("id", "system sheet id"),
    "gpu_memory_bytes": ("B", "memory of one accelerator, as its driver reports it"),
    "gpu_tdp_w": ("W", "rated power (TDP) of one accelerator"),
    "peak_flop_per_s": ("FLOP/s", "dense peak of one accelerator at the compute precision"),
    "precision": ("text", "training precision whose dense peak is used"),
    "compute_precision": ("text", "precision the matrix maths runs in"),
    "weights_dtype": ("text", "element type of the weights"),
    "kv_dtype": ("text", "element type of the KV cache"),
    "price_usd_per_gpu_hour": ("USD/h", "price of one accelerator-hour"),
    "system_max_power_w": ("W", "rated maximum power of one system"),
    # ---- parallel layout ------------------------------------------------------------------
    "tp": ("count", "tensor-parallel size, as given (null: chosen by the tool)"),
    "pp": ("count", "pipeline-parallel stages, as given (null: chosen by the tool)"),
    "dp": ("count", "data-parallel size, as given (null: derived)"),
    "tensor_parallel": ("count", "tensor-parallel size used"),
    "pipeline_parallel": ("count", "pipeline-parallel stages used"),
    "data_parallel": ("count", "data-parallel size used"),
    "zero": ("count", "ZeRO stage (0-3)"),
    "micro_batch": ("count", "sequences per micro-batch"),
    "recompute": ("text", "activation recomputation: none, selective or full"),
    # ---- kv-cache -------------------------------------------------------------------------
    "context_tokens": ("tokens", "tokens per sequence"),
    "batch": ("count", "concurrent sequences, as given"),
    "block_tokens": ("tokens", "paged-allocation block (0: not paged)"),
    "memory_utilization": ("fraction", "fraction of accelerator memory the server may use"),
    "reserve_bytes_per_gpu": ("B", "memory per accelerator kept for activations and graphs"),
    "kv_bytes_per_token": ("B", "KV-cache bytes per token of context, all layers"),
    "kv_bytes_per_sequence": ("B", "KV-cache bytes of one sequence (paged blocks rounded up)"),
    "kv_total_bytes": ("B", "KV-cache bytes of every concurrent sequence"),
    "cached_tokens_per_sequence": ("tokens", "full-layer-equivalent tokens held per sequence"),
    "kv_bytes_per_gpu": ("B", "KV-cache bytes held by one accelerator"),
    "weights_bytes": ("B", "bytes of the whole model's weights"),
    "weights_bytes_per_gpu": ("B", "bytes of weights held by one accelerator"),
    "usable_bytes": ("B", "memory the server may use, over all accelerators"),
    "free_bytes_for_kv": ("B", "memory left for the KV cache, over all accelerators"),
    "max_sequences": ("count", "most sequences of this length whose KV cache fits"),
    "max_tokens": ("tokens", "most tokens of KV cache that fit"),
    "fits": ("bool", "whether it fits in accelerator memory"),
    "shortfall_bytes": ("B", "memory missing for it to fit, over all accelerators (0 when it fits)"),
    # ---- train-cost -----------------------------------------------------------------------
    "mfu": ("fraction", "model FLOP utilisation: model FLOP/s over the dense peak"),
    "load_fraction": ("fraction", "average draw as a fraction of rated power"),
    "pue": ("ratio", "power usage effectiveness: facility power over IT power"),
    "carbon_intensity_g_per_kwh": ("g/kWh", "grid carbon intensity"),
    "goodput": ("fraction", "share of wall-clock that makes progress, as given"),
    "mtbf_gpu_hours": ("h", "mean accelerator-hours between interruptions, per accelerator"),
    "checkpoint_time_s": ("s", "time to write a checkpoint"),
    "restart_time_s": ("s", "time to restart after an interruption"),
    "target_wall_clock_s": ("s", "wall-clock the run must finish in"),
    "total_flop": ("FLOP", "model FLOP of the run, 6·N·D"),
    "flop_per_token": ("FLOP", "model FLOP per training token, 6·N"),
    "attention_flop_fraction": ("fraction", "share of the attention-score FLOP (PaLM's term) in the total"),
    "gpus_solved": ("count", "accelerators found to meet the target time"),
    "wall_clock_s": ("s", "wall-clock of the run without failures"),
    "gpu_hours": ("h", "accelerator-hours of the run without failures"),
    "tokens_per_s": ("tokens/s", "training tokens per second over the whole run"),
    "cost_usd": ("USD", "cost of the run without failures"),
    "average_power_w": ("W", "average facility power while training"),
    "energy_wh": ("Wh", "facility energy of the run without failures"),
    "co2_kg": ("kg", "CO2 of the run without failures"),
    "goodput_fraction": ("fraction", "share of wall-clock that makes progress (given or modelled)"),
    "checkpoint_interval_s": ("s", "time between checkpoints (Young/Daly)"),
    "interruptions_expected": ("count", "interruptions expected over the run"),
    "wall_clock_with_failures_s": ("s", "wall-clock of the run with failures"),
    "gpu_hours_with_failures": ("h", "accelerator-hours with failures"),
    "cost_with_failures_usd": ("USD", "cost with failures"),
    "energy_with_failures_wh": ("Wh", "facility energy with failures"),
    "co2_with_failures_kg": ("kg", "CO2 with failures"),
    "gradients_bytes_per_gpu": ("B", "gradient bytes held by one accelerator"),
    "optimizer_bytes_per_gpu": ("B", "optimizer-state bytes held by one accelerator"),
    "activations_bytes_per_gpu": ("B", "activation bytes held by the busiest accelerator"),
    "memory_used_bytes_per_gpu": ("B", "memory the busiest accelerator needs"),
    "shortfall_bytes_per_gpu": ("B", "memory missing on the busiest accelerator (0 when it fits)"),
    # ---- inference-throughput -------------------------------------------------------------
    "prompt_tokens": ("tokens", "prompt tokens per request"),
    "output_tokens": ("tokens", "output tokens per request"),
    "mbu": ("fraction", "memory-bandwidth utilisation: achieved over peak bandwidth"),
    "target_itl_s": ("s", "inter-token latency limit"),
    "target_ttft_s": ("s", "time-to-first-token limit"),
    "concurrent_sequences": ("count", "concurrent sequences served (given, or the largest meeting the targets)"),
    "replica_gpus": ("count", "accelerators per model replica"),
    "replicas": ("count", "model replicas"),
    "prefill_s": ("s", "prefill of one prompt alone"),
    "ttft_s": ("s", "time to first token"),
    "itl_s": ("s", "inter-token latency: one decode step"),
    "tokens_per_s_per_user": ("tokens/s", "output tokens per second seen by one user"),
    "output_tokens_per_s": ("tokens/s", "output tokens per second of the whole deployment"),
    "requests_per_s": ("1/s", "requests completed per second"),
    "e2e_latency_s": ("s", "time from request to last token"),
    "decode_bound": ("text", "what limits a decode step: memory or compute"),
    "step_memory_s": ("s", "decode step: memory-traffic time"),
    "step_compute_s": ("s", "decode step: arithmetic time"),
    "step_comm_s": ("s", "decode step: communication time"),
    "cost_per_million_output_tokens_usd": ("USD", "cost of a million output tokens"),
    "cost_per_million_input_tokens_usd": ("USD", "cost of a million prompt tokens"),
    "meets_targets": ("bool", "whether the latency targets are met"),
    # ---- cluster-power --------------------------------------------------------------------
    "gpus_per_system": ("count", "accelerators per system"),
    "nodes_per_system": ("count", "hosts (trays) per system"),
    "power_per_gpu_w": ("W", "power of one accelerator at full load (TDP or a cap)"),
    "host_overhead_per_system_w": ("W", "power of one system besides its accelerators, at full load"),
    "nics_per_system": ("count", "scale-out NICs per system"),
    "network": ("text", "scale-out topology: rail-optimized, fat-tree or none"),
    "inter": ("id", "scale-out interconnect sheet id"),
    "switch_radix": ("count", "ports per scale-out switch"),
    "power_per_switch_w": ("W", "power of one scale-out switch"),
    "power_per_transceiver_w": ("W", "power of one optical module"),
    "storage_power_w": ("W", "power of the storage systems"),
    "rack_power_limit_w": ("W", "power a rack may draw at peak"),
    "price_usd_per_kwh": ("USD/kWh", "electricity price"),
    "wue_l_per_kwh": ("L/kWh", "water usage effectiveness per IT kWh"),
    "years": ("count", "years of operation for the totals"),
    "gpus_installed": ("count", "accelerators installed (whole systems)"),
    "systems": ("count", "systems installed"),
    "nodes": ("count", "hosts installed"),
    "racks": ("count", "racks"),
    "rack_power_peak_w": ("W", "peak power of one full rack"),
    "switches": ("count", "scale-out switches"),
    "fabric_tiers": ("count", "switch tiers of the scale-out fat tree"),
    "transceivers": ("count", "optical modules"),
    "gpu_power_w": ("W", "average power of all accelerators"),
    "host_power_w": ("W", "average power of all hosts besides their accelerators"),
    "switch_power_w": ("W", "power of all scale-out switches"),
    "transceiver_power_w": ("W", "power of all optical modules"),
    "network_power_w": ("W", "power of the scale-out network (switches and optics)"),
    "it_power_w": ("W", "average IT power"),
    "it_power_peak_w": ("W", "peak IT power (every accelerator and host at full load)"),
    "facility_power_w": ("W", "average facility power (IT power × PUE)"),
    "facility_power_peak_w": ("W", "peak facility power (peak IT power × PUE)"),
    "watts_per_gpu_all_in": ("W", "average facility power per accelerator"),
    "energy_wh_per_year": ("Wh", "facility energy per year"),
    "energy_cost_usd_per_year": ("USD", "electricity cost per year"),
    "co2_kg_per_year": ("kg", "CO2 per year"),
    "water_l_per_year": ("L", "site water per year"),
    "energy_wh_total": ("Wh", "facility energy over the years given"),
    "energy_cost_usd_total": ("USD", "electricity cost over the years given"),
    "co2_kg_total": ("kg", "CO2 over the years given"),
    "water_l_total": ("L", "site water over the years given"),
    # ---- allreduce-time -------------------------------------------------------------------
    "op": ("text", "collective: all-reduce, all-gather, reduce-scatter, broadcast, reduce, all-to-all or send-recv"),
    "size_bytes": ("B", "message size S as nccl-tests counts it (all-gather/reduce-scatter: the whole array; "
                        "all-to-all: one GPU's send buffer)"),
    "dtype": ("text", "element type of the buffer (nccl-tests -d)"),
    "gpus_per_domain": ("count", "accelerators per scale-up domain (a node, or an NVL72 rack)"),
    "domains": ("count", "scale-up domains taking part"),
    "library": ("text", "collective library whose cost model applies: nccl, rccl or generic"),
    "intra": ("id", "scale-up interconnect sheet id"),
    "scale_up_bandwidth_bytes_per_s": ("B/s", "scale-up line rate of one accelerator to the others taking part, "
                                              "per direction"),
    "intra_latency_s": ("s", "scale-up latency per hop given for every protocol (null: NCCL's tables)"),
    "intra_in_network_reduction": ("bool", "whether the scale-up fabric reduces in the switch (NVLink SHARP)"),
    "nics_per_domain": ("count", "scale-out NICs per scale-up domain"),
    "nic_bandwidth_bytes_per_s": ("B/s", "line rate of one scale-out NIC, per direction"),
    "inter_latency_s": ("s", "scale-out latency per hop given for every protocol (null: NCCL's tables)"),
    "network_latency_s": ("s", "the network's own latency per hop beyond NCCL's InfiniBand figures"),
    "inter_in_network_reduction": ("bool", "whether the scale-out switches can reduce (InfiniBand SHARP)"),
    "oversubscription": ("ratio", "scale-out taper: NIC bandwidth divided by this across domains"),
    "sharp": ("bool", "whether InfiniBand in-network reduction (SHARP) was allowed"),
    "scale_up_efficiency_fraction": ("fraction", "achieved fraction of the scale-up line rate"),
    "scale_out_efficiency_fraction": ("fraction", "achieved fraction of the NIC line rate"),
    "in_network_efficiency_fraction": ("fraction", "achieved fraction of the line rate under NVLink SHARP"),
    "requested_algorithm": ("text", "algorithm asked for (auto: the lowest predicted time, as NCCL's tuner)"),
    "requested_protocol": ("text", "protocol asked for: auto, ll, ll128 or simple"),
    "algorithm": ("text", "algorithm used: ring, tree, nvls, nvls-tree, collnet, pat, one-shot, two-shot, "
                          "pairwise, low-latency or p2p"),
    "protocol": ("text", "NCCL protocol used: LL, LL128 or Simple"),
    "count": ("count", "elements in the buffer (nccl-tests' count column)"),
    "time_s": ("s", "time of the collective"),
    "algbw_bytes_per_s": ("B/s", "algorithm bandwidth S / t, as nccl-tests reports it"),
    "busbw_bytes_per_s": ("B/s", "bus bandwidth algbw × factor, as nccl-tests reports it"),
    "busbw_factor": ("ratio", "nccl-tests factor from algbw to busbw"),
    "latency_term_s": ("s", "latency part of the time"),
    "bandwidth_term_s": ("s", "bandwidth part of the time"),
    "bottleneck": ("text", "what limits the bandwidth: scale-up, scale-out or in-switch"),
    "ring_time_s": ("s", "time with a ring (best protocol)"),
    "tree_time_s": ("s", "time with NCCL's double binary tree (best protocol)"),
    "nvls_time_s": ("s", "time with NVLink SHARP (with InfiniBand SHARP across domains)"),
    "nvls_tree_time_s": ("s", "time with NVLink SHARP inside domains and a tree across them"),
    "collnet_time_s": ("s", "time with InfiniBand SHARP (NCCL CollNet)"),
    "pat_time_s": ("s", "time with NCCL's PAT (one GPU per node)"),
    "one_shot_time_s": ("s", "time with a one-shot all-pairs all-reduce inside one domain"),
    "two_shot_time_s": ("s", "time with a two-shot (direct reduce-scatter + all-gather) all-reduce"),
    # ---- fab-cost -------------------------------------------------------------------------
    "node": ("id", "process-node sheet id"),
    "wafer_diameter_mm": ("mm", "wafer diameter"),
    "edge_exclusion_mm": ("mm", "unusable ring at the wafer edge"),
    "die_area_mm2": ("mm2", "die area"),
    "die_width_mm": ("mm", "die width"),
    "die_height_mm": ("mm", "die height"),
    "die_shape": ("text", "die shape: given, or assumed square"),
    "scribe_mm": ("mm", "scribe lane between dies"),
    "defect_density_per_cm2": ("1/cm2", "killer defects per square centimetre"),
    "yield_model": ("text", "yield model: poisson, murphy, seeds or negative-binomial"),
    "clustering_alpha": ("ratio", "negative-binomial clustering parameter"),
    "wafer_cost_usd": ("USD", "price of one processed wafer"),
    "wafer_cost_year": ("year", "year of the wafer price"),
    "given_die_yield": ("fraction", "die yield as given (replaces the defect model)"),
    "dies_per_package": ("count", "logic dies per package"),
    "hbm_stacks": ("count", "HBM stacks per package"),
    "hbm_stack_cost_usd": ("USD", "price of one HBM stack"),
    "interposer_cost_usd": ("USD", "interposer or CoWoS cost per package"),
    "assembly_cost_usd": ("USD", "substrate, assembly and test cost per package"),
    "packaging_yield": ("fraction", "fraction of assemblies that work"),
    "production_units": ("count", "finished units to build"),
    "usable_diameter_mm": ("mm", "wafer diameter minus the edge exclusion"),
    "gross_dies_per_wafer": ("count", "whole dies on the wafer (exact count, best grid offset)"),
    "gross_dies_per_wafer_approx": ("count", "whole dies on the wafer (classic approximation)"),
    "wafer_area_used_fraction": ("fraction", "share of the wafer area in whole dies"),
    "die_yield": ("fraction", "share of dies that work"),
    "good_dies_per_wafer": ("count", "working dies per wafer"),
    "cost_per_gross_die_usd": ("USD", "wafer cost per die printed"),
    "cost_per_good_die_usd": ("USD", "wafer cost per working die"),
    "package_dies_cost_usd": ("USD", "logic dies of one package"),
    "package_hbm_cost_usd": ("USD", "HBM of one package"),
    "package_cost_usd": ("USD", "one working package"),
    "wafers_needed": ("count", "wafers for the production run"),
    "run_wafer_cost_usd": ("USD", "wafer cost of the production run"),
}

# Words a text key can take, for --check (compared case-insensitively) and the JSON Schema.
CHOICES: dict[str, tuple[str, ...]] = {
    "attention": ("mha", "gqa", "mqa", "mla"),
    "decode_bound": ("memory", "compute"),
    "bottleneck": ("scale-up", "scale-out", "in-switch"),
    "algorithm": ("ring", "tree", "nvls", "nvls-tree", "collnet", "pat", "one-shot", "two-shot", "pairwise",
                  "low-latency", "p2p"),
    "protocol": ("LL", "LL128", "Simple"),
    "library": ("nccl", "rccl", "generic"),
    "recompute": ("none", "selective", "full"),
    "network": ("rail-optimized", "fat-tree", "none"),
    "yield_model": ("poisson", "murphy", "seeds", "negative-binomial"),
    "die_shape": ("given", "assumed square"),
    "op": ("all-reduce", "all-gather", "reduce-scatter", "broadcast", "reduce", "all-to-all", "send-recv"),
}

_MODEL = ("model", "params_total", "params_active", "layers", "hidden_size", "heads", "head_dim")

# Per command: (input keys, result keys), in output order.
COMMANDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "kv-cache": (
        ("model", "layers", "kv_heads", "head_dim", "attention", "kv_lora_rank", "qk_rope_head_dim",
         "sliding_window", "sliding_window_layers", "params_total", "context_tokens", "batch", "kv_dtype",
         "block_tokens", "gpu", "gpus", "tp", "gpu_memory_bytes", "weights_dtype", "memory_utilization",
         "reserve_bytes_per_gpu"),
        ("kv_bytes_per_token", "kv_bytes_per_sequence", "kv_total_bytes", "cached_tokens_per_sequence",
         "kv_bytes_per_gpu", "weights_bytes", "weights_bytes_per_gpu", "usable_bytes", "free_bytes_for_kv",
         "max_sequences", "max_tokens", "fits", "shortfall_bytes"),
    ),
    "train-cost": (
        (*_MODEL, "tokens", "seq_len", "gpu", "precision", "peak_flop_per_s", "gpu_memory_bytes", "gpu_tdp_w",
         "gpus", "target_wall_clock_s", "tp", "pp", "dp", "mfu", "price_usd_per_gpu_hour", "load_fraction", "pue",
         "carbon_intensity_g_per_kwh", "system", "system_max_power_w", "zero", "recompute", "micro_batch",
         "goodput", "mtbf_gpu_hours", "checkpoint_time_s", "restart_time_s"),
        ("total_flop", "flop_per_token", "attention_flop_fraction", "gpus_solved", "tensor_parallel",
         "pipeline_parallel", "data_parallel", "wall_clock_s", "gpu_hours", "tokens_per_s", "cost_usd",
         "average_power_w", "energy_wh", "co2_kg", "goodput_fraction", "checkpoint_interval_s",
         "interruptions_expected", "wall_clock_with_failures_s", "gpu_hours_with_failures", "cost_with_failures_usd",
         "energy_with_failures_wh", "co2_with_failures_kg", "weights_bytes_per_gpu", "gradients_bytes_per_gpu",
         "optimizer_bytes_per_gpu", "activations_bytes_per_gpu", "memory_used_bytes_per_gpu", "fits",
         "shortfall_bytes_per_gpu"),
    ),
    "inference-throughput": (
        ("model", "params_total", "params_active", "gpu", "gpus", "tp", "pp", "batch", "prompt_tokens",
         "output_tokens", "weights_dtype", "kv_dtype", "compute_precision", "mbu", "mfu", "memory_utilization",
         "price_usd_per_gpu_hour", "target_itl_s", "target_ttft_s"),
        ("replica_gpus", "tensor_parallel", "pipeline_parallel", "replicas", "concurrent_sequences",
         "weights_bytes", "kv_total_bytes", "fits", "shortfall_bytes", "max_sequences", "prefill_s", "ttft_s",
         "itl_s", "tokens_per_s_per_user", "output_tokens_per_s", "requests_per_s", "e2e_latency_s", "decode_bound",
         "step_memory_s", "step_compute_s", "step_comm_s", "cost_per_million_output_tokens_usd",
         "cost_per_million_input_tokens_usd", "meets_targets"),
    ),
    "cluster-power": (
        ("gpu", "system", "gpus_per_system", "nodes_per_system", "gpu_tdp_w", "power_per_gpu_w",
         "system_max_power_w", "host_overhead_per_system_w", "nics_per_system", "gpus", "load_fraction", "network",
         "inter", "switch_radix", "power_per_switch_w", "power_per_transceiver_w", "storage_power_w", "pue",
         "rack_power_limit_w", "price_usd_per_kwh", "carbon_intensity_g_per_kwh", "wue_l_per_kwh", "years"),
        ("gpus_installed", "systems", "nodes", "racks", "rack_power_peak_w", "switches", "fabric_tiers",
         "transceivers", "gpu_power_w", "host_power_w", "switch_power_w", "transceiver_power_w",
         "network_power_w", "it_power_w", "it_power_peak_w", "facility_power_w", "facility_power_peak_w",
         "watts_per_gpu_all_in", "energy_wh_per_year", "energy_cost_usd_per_year", "co2_kg_per_year",
         "water_l_per_year", "energy_wh_total", "energy_cost_usd_total", "co2_kg_total", "water_l_total"),
    ),
    "allreduce-time": (
        ("op", "size_bytes", "dtype", "gpus", "gpus_per_domain", "domains", "system", "gpu", "library", "intra",
         "scale_up_bandwidth_bytes_per_s", "intra_latency_s", "intra_in_network_reduction", "inter",
         "nics_per_domain", "nic_bandwidth_bytes_per_s", "inter_latency_s", "network_latency_s",
         "inter_in_network_reduction", "oversubscription", "sharp", "scale_up_efficiency_fraction",
         "scale_out_efficiency_fraction", "in_network_efficiency_fraction", "requested_algorithm",
         "requested_protocol"),
        ("algorithm", "protocol", "count", "time_s", "algbw_bytes_per_s", "busbw_bytes_per_s", "busbw_factor",
         "latency_term_s", "bandwidth_term_s", "bottleneck", "ring_time_s", "tree_time_s", "nvls_time_s",
         "nvls_tree_time_s", "collnet_time_s", "pat_time_s", "one_shot_time_s", "two_shot_time_s"),
    ),
    "fab-cost": (
        ("node", "wafer_cost_usd", "wafer_cost_year", "wafer_diameter_mm", "edge_exclusion_mm", "die_area_mm2",
         "die_width_mm", "die_height_mm", "die_shape", "scribe_mm", "defect_density_per_cm2", "yield_model",
         "clustering_alpha", "given_die_yield", "dies_per_package", "hbm_stacks", "hbm_stack_cost_usd",
         "interposer_cost_usd", "assembly_cost_usd", "packaging_yield", "production_units"),
        ("usable_diameter_mm", "gross_dies_per_wafer", "gross_dies_per_wafer_approx", "wafer_area_used_fraction",
         "die_yield", "good_dies_per_wafer", "cost_per_gross_die_usd", "cost_per_good_die_usd",
         "package_dies_cost_usd", "package_hbm_cost_usd", "package_cost_usd", "wafers_needed",
         "run_wafer_cost_usd"),
    ),
}


def unit(key: str) -> str:
    """The unit a key carries ('' for a key not in the registry, such as a sheet's own field)."""
    entry = FIELDS.get(key)
    return entry[0] if entry else ""


def meaning(key: str) -> str:
    entry = FIELDS.get(key)
    return entry[1] if entry else ""


def inputs_of(command: str) -> tuple[str, ...]:
    return COMMANDS[command][0]


def results_of(command: str) -> tuple[str, ...]:
    return COMMANDS[command][1]


def commands_emitting(key: str) -> list[str]:
    """The commands whose output carries ``key``, as input or result."""
    return [name for name, (ins, outs) in COMMANDS.items() if key in ins or key in outs]
