#include "core/engine/timeline.h"

#include <algorithm>
#include <chrono>
#include <utility>

namespace ditstream::engine {
namespace {

using Interval = std::pair<double, double>;

// The union of the spans as sorted, disjoint intervals.
std::vector<Interval> merged(const std::vector<Span>& spans) {
  std::vector<Interval> in;
  for (const auto& s : spans) {
    if (s.end > s.start) in.emplace_back(s.start, s.end);
  }
  std::sort(in.begin(), in.end());
  std::vector<Interval> out;
  for (const auto& i : in) {
    if (!out.empty() && i.first <= out.back().second) {
      out.back().second = std::max(out.back().second, i.second);
    } else {
      out.push_back(i);
    }
  }
  return out;
}

}  // namespace

double unix_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void Timeline::add(Span span) {
  std::lock_guard lock(mutex_);
  if (spans_.size() >= max_spans_) {
    ++dropped_;
    return;
  }
  spans_.push_back(std::move(span));
}

void Timeline::add_until_now(std::string what, std::string lane, double start) {
  add(Span{std::move(what), std::move(lane), start, unix_seconds()});
}

std::vector<Span> Timeline::spans() const {
  std::lock_guard lock(mutex_);
  return spans_;
}

size_t Timeline::dropped() const {
  std::lock_guard lock(mutex_);
  return dropped_;
}

double overlap_seconds(const std::vector<Span>& a, const std::vector<Span>& b) {
  const auto ua = merged(a), ub = merged(b);
  double total = 0;
  size_t i = 0, j = 0;
  while (i < ua.size() && j < ub.size()) {
    const double lo = std::max(ua[i].first, ub[j].first), hi = std::min(ua[i].second, ub[j].second);
    if (hi > lo) total += hi - lo;
    (ua[i].second < ub[j].second ? i : j) += 1;
  }
  return total;
}

}  // namespace ditstream::engine
