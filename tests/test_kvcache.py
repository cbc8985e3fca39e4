"""KV-cache math against hand-computed values from the models' published configs."""

import pytest

from aistack_cli.calc.kvcache import Attention, Shards, kv_bytes_per_sequence, kv_bytes_per_token, kv_cache

BF16 = 2.0


def test_llama_3_1_70b_gqa():
    # config.json: num_hidden_layers 80, num_key_value_heads 8, head_dim 8192/64 = 128.
    # 2 (K and V) * 80 * 8 * 128 * 2 bytes = 327,680 B/token.
    att = Attention(layers=80, kv_heads=8, head_dim=128, kind="gqa")
    assert kv_bytes_per_token(att, BF16) == 327_680
    # 131,072 tokens (128 Ki) * 327,680 = 40 GiB exactly.
    assert kv_bytes_per_sequence(att, 131_072, BF16, 16) == 40 * 2**30


def test_deepseek_v3_mla_ignores_the_128_kv_heads():
    # MLA caches kv_lora_rank 512 + qk_rope_head_dim 64 per layer, 61 layers, no factor 2:
    # 61 * 576 * 2 = 70,272 B/token. Reading num_key_value_heads 128 as GQA would give
    # 2 * 61 * 128 * 128 * 2 = 3,997,696: the trap.
    att = Attention(layers=61, kv_heads=128, head_dim=128, kind="mla", kv_lora_rank=512, qk_rope_head_dim=64)
    assert kv_bytes_per_token(att, BF16) == 70_272


def test_falcon_7b_multi_query():
    # Falcon-7B: 32 layers, multi-query (1 KV head), head_dim 4544/71 = 64.
    # 2 * 32 * 1 * 64 * 2 = 8,192 B/token.
    att = Attention(layers=32, kv_heads=1, head_dim=64, kind="mqa")
    assert kv_bytes_per_token(att, BF16) == 8_192


def test_gemma_2_9b_head_dim_is_not_width_over_heads():
    # Gemma 2 9B: hidden 3584, 16 heads, but head_dim 256 (3584/16 = 224 would be wrong);
    # 42 layers, 8 KV heads: 2 * 42 * 8 * 256 * 2 = 344,064 B/token.
    att = Attention(layers=42, kv_heads=8, head_dim=256, kind="gqa", sliding_window=4096, sliding_window_layers=21)
    assert kv_bytes_per_token(att, BF16) == 344_064


def test_gemma_3_27b_hybrid_window_beyond_its_window():
    # Gemma 3 27B: 62 layers, 16 KV heads, head_dim 128, window 1024 on 52 local layers
    # (pattern 5 local : 1 global -> 10 global). Per layer per token: 2 * 16 * 128 * 2 = 8,192 B.
    # At 32,768 tokens: 10 * 32,768 * 8,192 + 52 * 1,024 * 8,192 = 2,684,354,560 + 436,207,616
    # = 3,120,562,176 B, against 62 * 32,768 * 8,192 = 16,642,998,272 B without windows.
    att = Attention(layers=62, kv_heads=16, head_dim=128, kind="gqa", sliding_window=1024, sliding_window_layers=52)
    assert kv_bytes_per_sequence(att, 32_768, BF16, 0) == 3_120_562_176
    # Within the window every layer holds the whole context.
    assert kv_bytes_per_sequence(att, 1_000, BF16, 0) == 62 * 1_000 * 8_192


def test_paged_blocks_round_up_per_sequence():
    att = Attention(layers=1, kv_heads=1, head_dim=1, kind="mqa")
    assert kv_bytes_per_sequence(att, 17, 1.0, 16) == 2 * 32
    assert kv_bytes_per_sequence(att, 17, 1.0, 0) == 2 * 17


def test_fit_on_four_h100_at_128k():
    # 70.6B params * 2 B = 141.2 GB of weights over 4 shards = 35.3 GB per GPU.
    # usable 80 GB * 0.9 = 72 GB -> free 36.7 GB per GPU. One 128,000-token sequence holds
    # 128,000 * 327,680 = 41.94 GB, a quarter per shard = 10.49 GB -> 3 sequences.
    att = Attention(layers=80, kv_heads=8, head_dim=128, kind="gqa")
    shards = Shards(gpus=4, tensor_parallel=4, memory_bytes=80e9, memory_utilization=0.9, weights_bytes=141.2e9)
    result = kv_cache(att, 128_000, 1, BF16, 16, shards)
    assert result.free_bytes_for_kv == pytest.approx(4 * 36.7e9)
    assert result.max_sequences == 3
    assert result.fits is True
    too_many = kv_cache(att, 128_000, 4, BF16, 16, shards)
    assert too_many.fits is False
    assert too_many.shortfall_bytes == pytest.approx(4 * (4 * 41_943_040_000 / 4 - 36.7e9))


def test_weights_that_do_not_fit_leave_nothing():
    att = Attention(layers=80, kv_heads=8, head_dim=128, kind="gqa")
    shards = Shards(gpus=1, tensor_parallel=1, memory_bytes=80e9, memory_utilization=0.9, weights_bytes=141.2e9)
    result = kv_cache(att, 8_000, 1, BF16, 16, shards)
    assert result.max_sequences == 0 and result.fits is False
    assert any("weights and the activation reserve exceed" in w for w in result.warnings)


def test_kv_heads_fewer_than_shards_are_replicated():
    # 8 KV heads on 16 shards: each shard still holds a whole head, 1/8 of the cache, not 1/16.
    att = Attention(layers=80, kv_heads=8, head_dim=128, kind="gqa")
    shards = Shards(gpus=16, tensor_parallel=16, memory_bytes=80e9, memory_utilization=0.9, weights_bytes=141.2e9)
    result = kv_cache(att, 1_000, 1, BF16, 0, shards)
    assert result.kv_bytes_per_gpu == pytest.approx(327_680 * 1_000 / 8)


@pytest.mark.parametrize("model, context, expected_per_token, expected_per_sequence", [
    # Same derivations as above, now read from the bundled sheets through the CLI.
    ("llama-3.1-70b", "8k", 327_680, 327_680 * 8_000),
    ("deepseek-v3", "8k", 70_272, 70_272 * 8_000),
    ("falcon-7b", "2k", 8_192, 8_192 * 2_000),
    ("gemma-2-9b", "8k", 344_064, 344_064 * 8_000 // 42 * 21 + 344_064 // 42 * 21 * 4_096),
    ("gemma-3-27b", "32Ki", 507_904, 3_120_562_176),
    ("llama-3.1-405b", "8k", 516_096, 516_096 * 8_000),  # 126 layers, 8 KV heads (not 16)
])
def test_catalog_models_through_the_cli(cli, model, context, expected_per_token, expected_per_sequence):
    run = cli("kv-cache", "--model", model, "--context", context, "--block-size", "0", "--format", "json")
    assert run.code == 0, run.err
    results = run.json()["results"]
    assert results["kv_bytes_per_token"] == expected_per_token
    assert results["kv_bytes_per_sequence"] == expected_per_sequence


# ---- the engine's memory budget: one reserve formula for kv-cache and inference-throughput ---------------

from aistack_cli.calc.kvcache import (Activations, WeightSplit, activation_peak_bytes, kv_pool_bytes_per_gpu,
                                      profiled_tokens, sglang_mem_fraction_static, weights_bytes,
                                      weights_bytes_per_gpu)


def test_activation_peak_of_llama_3_1_8b():
    # Llama 3.1 8B: hidden 4096, MLP 14336. Per token the busiest layer holds 3 * 4096 (residual, normed input,
    # output) + 3 * 14336 (gate_up output 2 * 14336 and the product 14336) 16-bit elements = 110,592 B; 8192
    # profiled tokens hold 905,969,664 B. 256 sampled rows of 128,256 logits in 16-bit and fp32: 197,001,216 B.
    act = Activations(hidden_size=4096, ffn_size=14336, vocab_size=128256)
    assert activation_peak_bytes(act, 8192, tp=1, logit_rows=0) == 8192 * 110_592 == 905_969_664
    assert activation_peak_bytes(act, 8192, tp=1, logit_rows=256) == 905_969_664 + 256 * 128256 * 6
    # Tensor parallelism splits the MLP buffers and the logits, not the residual stream.
    assert activation_peak_bytes(act, 8192, tp=2, logit_rows=0) == 8192 * 2 * (3 * 4096 + 3 * 7168)


def test_moe_layers_hold_their_experts_buffers():
    # DeepSeek-V3: top-8 of experts 2048 wide: 8 * (3 * 2048 + 7168) = 106,496 elements per token beat the
    # dense MLP's 3 * 18432 = 55,296; with the residual 3 * 7168: 2 * (21,504 + 106,496) = 256,000 B per token.
    act = Activations(hidden_size=7168, ffn_size=18432, experts_active=8, expert_ffn_size=2048)
    assert activation_peak_bytes(act, 1, tp=1, logit_rows=0) == 256_000


def test_vllm_profiles_the_context_without_chunked_prefill():
    # vLLM V0 below 32k context runs without chunked prefill and profiles max(max_model_len, 2048) tokens, so
    # the reserve grows with the context; with chunked prefill it profiles its token budget.
    assert profiled_tokens(8192, 20_000, chunked_prefill=False) == 20_000
    assert profiled_tokens(8192, 1_000, chunked_prefill=False) == 2048
    assert profiled_tokens(8192, 20_000, chunked_prefill=True) == 8192


def test_pool_rules_of_the_three_engines():
    # 80 GB GPU, 35 GB of weights, 2 GB of activations:
    # vLLM 0.9 * 80 - 35 - 2 = 35; SGLang 0.9 * 80 - 35 = 37; TensorRT-LLM 0.9 * (80 - 35 - 2) = 38.7 (GB).
    assert kv_pool_bytes_per_gpu("vllm", 80e9, 0.9, 35e9, 2e9) == pytest.approx(35e9)
    assert kv_pool_bytes_per_gpu("sglang", 80e9, 0.9, 35e9, 2e9) == pytest.approx(37e9)
    assert kv_pool_bytes_per_gpu("trtllm", 80e9, 0.9, 35e9, 2e9) == pytest.approx(38.7e9)
    assert kv_pool_bytes_per_gpu("none", 80e9, 0.9, 35e9, 2e9, reserve_bytes=1e9) == pytest.approx(36e9)
    assert [sglang_mem_fraction_static(tp) for tp in (1, 2, 4, 8, 16)] == [0.88, 0.87, 0.85, 0.81, 0.79]


def test_quantised_weights_keep_the_embedding_16_bit_and_experts_split_over_ep():
    # 8.03B parameters, 1.05B of them embedding and head (2 * 128,256 * 4096): FP8 stores 6.98 GB + 2.1 GB.
    split = WeightSplit(8.03e9, 0.0, 2 * 128256 * 4096)
    assert weights_bytes(split, 1.0) == pytest.approx(8.03e9 - 1_050_673_152 + 2 * 1_050_673_152)
    moe = WeightSplit(100e9, 80e9, 0.0)
    assert weights_bytes_per_gpu(moe, 2.0, tp=4, ep=1) == pytest.approx(200e9 / 4)
    assert weights_bytes_per_gpu(moe, 2.0, tp=1, ep=8) == pytest.approx(40e9 + 160e9 / 8)


def test_kv_cache_cli_reserve_grows_with_the_context_without_chunking(cli):
    def free(context, chunked):
        run = cli("kv-cache", "--model", "llama-3.1-8b", "--context", context, "--gpu-memory", "23.58GiB",
                  "--memory-utilization", "0.9", "--chunked-prefill", chunked, "--max-num-seqs", "256",
                  "--format", "json")
        assert run.code == 0, run.err
        return run.json()["results"]
    short, long = free("20000", "off"), free("29000", "off")
    # 9,000 more profiled tokens at 110,592 B each: 995,328,000 B less for the pool.
    assert short["free_bytes_for_kv"] - long["free_bytes_for_kv"] == pytest.approx(9000 * 110_592)
    assert free("29000", "on")["activation_reserve_bytes_per_gpu"] < long["activation_reserve_bytes_per_gpu"]


def test_kv_cache_cli_engines_and_expert_parallelism(cli):
    base = ["kv-cache", "--model", "deepseek-v3", "--context", "4k", "--gpu", "h200", "--gpus", "8",
            "--weights-dtype", "fp8", "--format", "json"]
    tp8 = cli(*base).json()["results"]
    dp8 = cli(*base, "--ep", "8", "--tp", "1").json()["results"]
    # Under TP8 every GPU holds every sequence's whole latent; under DP attention each holds its own: with
    # the same pool per GPU, 8x the sequences (less the weights the DP ranks replicate).
    assert tp8["kv_bytes_per_gpu"] == pytest.approx(dp8["kv_bytes_per_gpu"])
    assert dp8["max_sequences"] > 4 * tp8["max_sequences"]
    sglang = cli(*base, "--engine", "sglang").json()
    assert sglang["inputs"]["memory_utilization"] == 0.81 and sglang["results"]["activation_reserve_bytes_per_gpu"] == 0
