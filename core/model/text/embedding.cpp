#include "core/model/text/embedding.h"

#include <ATen/ATen.h>

#include "core/util/error.h"

namespace ditstream::text {

Embedding::Embedding(int64_t num_embeddings, int64_t dim)
    : num_embeddings_(num_embeddings), weight_(register_parameter("weight", {num_embeddings, dim})) {}

at::Tensor Embedding::forward(const at::Tensor& ids) const {
  if (ids.numel() > 0) {
    const int64_t lo = ids.min().item<int64_t>();
    const int64_t hi = ids.max().item<int64_t>();
    if (lo < 0 || hi >= num_embeddings_) {
      throw_invalid("[embedding]", "input_ids",
                    "token id " + std::to_string(lo < 0 ? lo : hi) + " is outside the vocabulary 0.." +
                        std::to_string(num_embeddings_ - 1));
    }
  }
  return at::embedding(weight_, ids.to(weight_.device()));
}

}  // namespace ditstream::text
