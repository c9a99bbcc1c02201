#include "core/parallel/ulysses_pipeline.h"

#include <ATen/ATen.h>

#include <memory>
#include <vector>

#include "core/parallel/ulysses_attention.h"
#include "core/util/error.h"

namespace ditstream::parallel {
namespace {

constexpr std::string_view kContext = "ulysses pipeline";
constexpr int64_t kMinHeadsPerGroup = 4;

void check_groups(int groups, int64_t heads_per_rank) {
  require(groups >= 1, kContext, "ulysses_groups",
          std::to_string(groups) + " head groups: at least 1 is needed (1: no pipelining)");
  require(heads_per_rank % groups == 0, kContext, "ulysses_groups",
          std::to_string(groups) + " head groups do not divide the " + std::to_string(heads_per_rank) +
              " heads of each Ulysses rank");
}

}  // namespace

int default_ulysses_groups(int64_t heads_per_rank) {
  int best = 1;
  for (int64_t groups = 1; groups * kMinHeadsPerGroup <= heads_per_rank; ++groups) {
    if (heads_per_rank % groups == 0) best = static_cast<int>(groups);
  }
  return best;
}

int ulysses_groups_for(const Mesh& mesh, int64_t heads, std::optional<int> asked) {
  require(heads % mesh.ulysses == 0, kContext, "heads",
          std::to_string(heads) + " heads do not divide over " + std::to_string(mesh.ulysses) + " Ulysses ranks");
  const int64_t per_rank = heads / mesh.ulysses;
  if (!asked) return mesh.ring == 1 && mesh.ulysses > 1 ? default_ulysses_groups(per_rank) : 1;
  check_groups(*asked, per_rank);
  require(*asked == 1 || mesh.ring == 1, kContext, "ulysses_groups",
          std::to_string(*asked) + " head groups need a Ulysses-only mesh; " + mesh.to_string() + " has a ring (use 1)");
  return *asked;
}

JointOutput pipelined_ulysses_attention(Communicator& ulysses, int groups, const at::Tensor& q_video,
                                        const at::Tensor& k_video, const at::Tensor& v_video,
                                        const at::Tensor& q_text, const at::Tensor& k_text, const at::Tensor& v_text,
                                        const AttendHeads& attend) {
  const int n = ulysses.world_size();
  const int64_t batch = q_video.size(0), heads = q_video.size(1), shard = q_video.size(2), dim = q_video.size(3);
  require(heads % n == 0, kContext, "heads",
          std::to_string(heads) + " heads do not divide over " + std::to_string(n) + " Ulysses ranks");
  check_groups(groups, heads / n);
  const int64_t per_group = heads / n / groups;  // heads of one group on one rank
  const bool text = q_text.defined();

  // Rank r attends heads [r·H/N, (r+1)·H/N); its group g is heads [(r·G + g)·hg, (r·G + g + 1)·hg).
  // Group g's q/k/v of every rank's heads, rank-major so that chunk r goes to rank r:
  // [B, H, S, D] → [B, N, G, hg, S, D] → [N, 3, B, hg, S, D] (one copy, the all-to-all's send buffer).
  const auto send_group = [&](int g) {
    at::Tensor send = at::empty({n, 3, batch, per_group, shard, dim}, q_video.options());
    int i = 0;
    for (const at::Tensor* x : {&q_video, &k_video, &v_video}) {
      send.select(1, i++).copy_(x->unflatten(1, {n, groups, per_group}).select(2, g).movedim(1, 0));
    }
    // Chunk r = rows [3r, 3r + 3) to rank r; received chunks joined along the tokens:
    // [N·3, B, hg, S, D] → [3, B, hg, N·S, D].
    return ulysses.all_to_all_async(send.flatten(0, 1), 0, 3);
  };
  const auto local_group = [&](const at::Tensor& x, int g) {  // [B, H, T, D] → [B, hg, T, D]
    return x.narrow(1, (ulysses.rank() * groups + g) * per_group, per_group);
  };

  std::vector<std::unique_ptr<PendingExchange>> inbound(groups), outbound(groups);
  std::vector<at::Tensor> text_heads(groups);
  inbound[0] = send_group(0);
  for (int g = 0; g < groups; ++g) {
    // The next group travels while this one attends (and the previous one's output returns).
    if (g + 1 < groups) inbound[g + 1] = send_group(g + 1);
    const at::Tensor qkv = inbound[g]->wait();  // [3, B, hg, N·S, D]
    inbound[g].reset();
    const JointOutput out = attend(qkv[0], qkv[1], qkv[2], text ? local_group(q_text, g) : at::Tensor(),
                                   text ? local_group(k_text, g) : at::Tensor(),
                                   text ? local_group(v_text, g) : at::Tensor());
    // Back to the sequence split: [B, hg, N·S, D] → [N·B, hg, S, D], rank r's heads at rows [rB, rB + B).
    outbound[g] = ulysses.all_to_all_async(out.video, 2, 0);
    text_heads[g] = out.text;
  }

  at::Tensor video = at::empty({batch, n, groups, per_group, shard, dim}, q_video.options());  // [B, N, G, hg, S, D]
  for (int g = 0; g < groups; ++g) {
    video.select(2, g).copy_(outbound[g]->wait().unflatten(0, {n, batch}).movedim(0, 1));
  }
  JointOutput result;
  result.video = video.flatten(1, 3);  // [B, H, S, D]
  // The text outputs are small: this rank's heads joined, then every rank's gathered at once.
  if (text) result.text = gather_heads(ulysses, at::cat(text_heads, 1));  // [B, h, Tq, D] → [B, H, Tq, D]
  return result;
}

}  // namespace ditstream::parallel
