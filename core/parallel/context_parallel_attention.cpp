#include "core/parallel/context_parallel_attention.h"

#include <ATen/ATen.h>

#include <cmath>

#include "core/kernels/attention.h"
#include "core/parallel/ring_attention.h"
#include "core/parallel/ulysses_attention.h"
#include "core/parallel/ulysses_pipeline.h"
#include "core/util/error.h"

namespace ditstream::parallel {
namespace {

constexpr std::string_view kContext = "context parallel attention";

std::string shape(const at::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

bool has_text(const at::Tensor& t) { return t.defined() && t.size(2) > 0; }

// All keys of the Ulysses group are on this rank (ring 1): one attention call over
// cat([video, text]), the padding keys (video keys from `valid` on) left out. q/k/v [B, h, C, D],
// text q [B, h, Tq, D] and k/v [B, h, Tk, D] (undefined: no text) → video [B, h, C, D], text [B, h, Tq, D].
JointOutput attend_all_keys(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& qt,
                            const at::Tensor& kt, const at::Tensor& vt, int64_t valid,
                            const std::optional<double>& scale, bool fp8) {
  const bool text = qt.defined();
  const int64_t chunk = q.size(2);
  const at::Tensor q_all = text ? at::cat({q, qt}, 2) : q;                                            // [B, h, C + Tq, D]
  const at::Tensor k_all = text ? at::cat({k.narrow(2, 0, valid), kt}, 2) : k.narrow(2, 0, valid);  // [B, h, valid + Tk, D]
  const at::Tensor v_all = text ? at::cat({v.narrow(2, 0, valid), vt}, 2) : v.narrow(2, 0, valid);
  // The default scale takes the one-device kernel (kernels::attention), so a head attended here
  // gives the bits it gives on one GPU.
  const at::Tensor out = scale ? at::scaled_dot_product_attention(q_all, k_all, v_all, std::nullopt, 0.0, false, *scale)
                               : kernels::attention(q_all, k_all, v_all, fp8);
  JointOutput result;
  result.video = out.narrow(2, 0, chunk);
  if (text) result.text = out.narrow(2, chunk, qt.size(2));
  return result;
}

}  // namespace

ContextParallelAttention::ContextParallelAttention(Communicator& ulysses, Communicator& ring, SequenceSplit split,
                                                   std::optional<double> scale)
    : ulysses_(ulysses), ring_(ring), split_(split), scale_(scale) {
  const int world = ulysses.world_size() * ring.world_size();
  const int rank = ring.rank() * ulysses.world_size() + ulysses.rank();
  require(split.world_size() == world && split.rank() == rank, kContext, "split",
          "split for rank " + std::to_string(split.rank()) + " of " + std::to_string(split.world_size()) +
              " does not match mesh rank " + std::to_string(rank) + " of " + std::to_string(world));
}

ContextParallelAttention::Output ContextParallelAttention::operator()(const at::Tensor& q_video,
                                                                      const at::Tensor& k_video,
                                                                      const at::Tensor& v_video,
                                                                      const at::Tensor& q_text,
                                                                      const at::Tensor& k_text,
                                                                      const at::Tensor& v_text, bool fp8) const {
  require(q_video.dim() == 4 && q_video.sizes() == k_video.sizes() && q_video.sizes() == v_video.sizes(), kContext,
          "q_video", "q/k/v must share one [B, H, S, D] shape, got " + shape(q_video) + ", " + shape(k_video) +
                         ", " + shape(v_video));
  require(q_video.size(2) == split_.shard(), kContext, "q_video",
          "holds " + std::to_string(q_video.size(2)) + " tokens, the shard size is " + std::to_string(split_.shard()));
  const bool text = has_text(q_text);
  if (text) {
    const auto like_video = [&](const at::Tensor& t) {
      return t.defined() && t.dim() == 4 && t.size(0) == q_video.size(0) && t.size(1) == q_video.size(1) &&
             t.size(3) == q_video.size(3);
    };
    require(like_video(q_text) && like_video(k_text) && k_text.sizes() == v_text.sizes(), kContext, "q_text",
            "text q must be [B, H, Tq, D] and text k/v [B, H, Tk, D] like the video's " + shape(q_video) + ", got " +
                shape(q_text) + ", " + shape(k_text) + ", " + shape(v_text));
  }
  require(!fp8 || !scale_, kContext, "fp8", "FP8 attention takes the default 1/sqrt(head_dim) scale");
  const double scale = scale_.value_or(1.0 / std::sqrt(static_cast<double>(q_video.size(3))));

  const int groups = ulysses_groups(q_video.size(1));
  if (groups > 1) {
    // Ring 1: all keys are on the Ulysses group, the padding keys at the end; pipelined over head groups.
    const int64_t valid = split_.total();
    const auto attend = [&](const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& qt,
                            const at::Tensor& kt, const at::Tensor& vt) {
      return attend_all_keys(q, k, v, qt, kt, vt, valid, scale_, fp8);
    };
    const auto out = pipelined_ulysses_attention(ulysses_, groups, q_video, k_video, v_video,
                                                 text ? q_text : at::Tensor(), text ? k_text : at::Tensor(),
                                                 text ? v_text : at::Tensor(), attend);
    return {out.video, out.text};
  }

  // Sequence split → head split within the Ulysses group: one all-to-all for q, k and v.
  const at::Tensor qkv = sequence_to_head_split(ulysses_, at::stack({q_video, k_video, v_video}));  // [3, B, H/U, C, D]
  const at::Tensor q = qkv[0], k = qkv[1], v = qkv[2];
  const at::Tensor qt = text ? local_heads(ulysses_, q_text) : at::Tensor();  // [B, H/U, T, D]
  const at::Tensor kt = text ? local_heads(ulysses_, k_text) : at::Tensor();
  const at::Tensor vt = text ? local_heads(ulysses_, v_text) : at::Tensor();

  // The Ulysses group's tokens are chunk ring.rank() of the padded sequence.
  const int64_t chunk = q.size(2);
  auto valid_keys = [&](int ring_rank) { return split_.valid_in(ring_rank * chunk, chunk); };

  at::Tensor video_heads, text_heads;
  if (ring_.world_size() == 1) {
    // All keys are here: one SDPA call over cat([video, text]), the padding keys left out.
    const auto out = attend_all_keys(q, k, v, qt, kt, vt, valid_keys(0), scale_, fp8);
    video_heads = out.video;
    text_heads = out.text;
  } else {
    auto result = ring_attention(ring_, q, k, v, qt, kt, vt, valid_keys, scale);
    video_heads = result.video;
    text_heads = result.text;
  }

  Output output;
  output.video = head_to_sequence_split(ulysses_, video_heads.contiguous());  // [B, H, S, D]
  if (text) output.text = gather_heads(ulysses_, text_heads);                 // [B, H, T, D]
  return output;
}

void ContextParallelAttention::set_ulysses_groups(std::optional<int> groups) {
  require(!groups || *groups >= 1, kContext, "ulysses_groups",
          std::to_string(groups.value_or(0)) + " head groups: at least 1 is needed (1: no pipelining)");
  ulysses_groups_ = groups;
}

int ContextParallelAttention::ulysses_groups(int64_t heads) const {
  if (heads % ulysses_.world_size() != 0) return 1;  // the layout switch reports it
  return ulysses_groups_for(Mesh{ulysses_.world_size(), ring_.world_size()}, heads, ulysses_groups_);
}

}  // namespace ditstream::parallel
