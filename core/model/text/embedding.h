// torch.nn.Embedding for the text encoders, with the one check a token table needs: every id in
// range (an out-of-range id is an error naming it, never a read outside the table).
#pragma once

#include <ATen/Tensor.h>

#include "core/model/module.h"

namespace ditstream::text {

class Embedding : public model::Module {
 public:
  Embedding(int64_t num_embeddings, int64_t dim);
  // ids: integer tensor, best kept on the host (the range check then needs no device sync); the
  // rows come back on the table's device.
  at::Tensor forward(const at::Tensor& ids) const;
  int64_t num_embeddings() const { return num_embeddings_; }

 private:
  int64_t num_embeddings_;
  at::Tensor& weight_;
};

}  // namespace ditstream::text
