#include "web/api/http_server.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <list>
#include <mutex>
#include <thread>

#include "core/util/error.h"
#include "core/util/log.h"

namespace ditstream::web {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

const std::string* HttpRequest::header(const std::string& lower_name) const {
  const auto it = headers.find(lower_name);
  return it == headers.end() ? nullptr : &it->second;
}

HttpResponse HttpResponse::text(int status, std::string body, std::string content_type) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.content_type = std::move(content_type);
  return r;
}

namespace {

HttpRequest to_request(const http::request<http::string_body>& in, const tcp::endpoint& remote) {
  HttpRequest req;
  req.method = std::string(in.method_string());
  req.target = std::string(in.target());
  const auto q = req.target.find('?');
  req.path = req.target.substr(0, q);
  req.query = q == std::string::npos ? "" : req.target.substr(q + 1);
  for (const auto& field : in) {
    std::string name(field.name_string());
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    req.headers[name] = std::string(field.value());
  }
  req.body = in.body();
  req.remote_address = remote.address().to_string();
  return req;
}

using StreamStarter = std::function<void(tcp::socket, HttpResponse)>;

// True when the peer closed its end (or the socket failed): a streamed response stops then.
bool peer_gone(tcp::socket& socket) {
  pollfd p{socket.native_handle(), POLLIN | POLLRDHUP, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  if (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) return true;
  char c;
  return ::recv(socket.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

// Writes a streamed response with blocking writes on its own thread; the body ends with the
// connection, so no length or chunking is needed.
void run_stream(tcp::socket socket, HttpResponse r, const std::atomic<bool>& stopping) {
  std::string head = "HTTP/1.1 " + std::to_string(r.status) + " " +
                     std::string(http::obsolete_reason(static_cast<http::status>(r.status))) +
                     "\r\nServer: ditstream\r\nContent-Type: " + r.content_type +
                     "\r\nCache-Control: no-cache\r\nConnection: close\r\n";
  for (const auto& [k, v] : r.headers) head += k + ": " + v + "\r\n";
  head += "\r\n";
  beast::error_code ec;
  socket.non_blocking(false, ec);
  asio::write(socket, asio::buffer(head), ec);
  while (!ec && !stopping.load()) {
    auto piece = r.stream->next();
    if (!piece) break;
    if (piece->empty()) {
      if (peer_gone(socket)) break;
      continue;
    }
    asio::write(socket, asio::buffer(*piece), ec);
  }
  r.stream.reset();  // unsubscribes before the socket closes
  socket.shutdown(tcp::socket::shutdown_both, ec);
  socket.close(ec);
}

// One connection: read a request, answer it, repeat while keep-alive.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const HttpHandler& handler, uint64_t max_body, const StreamStarter& start_stream)
      : stream_(std::move(socket)), handler_(handler), max_body_(max_body), start_stream_(start_stream) {}

  void run() { read(); }

 private:
  void read() {
    parser_.emplace();
    parser_->body_limit(max_body_);
    parser_->header_limit(64 * 1024);
    stream_.expires_after(std::chrono::seconds(60));
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == asio::error::operation_aborted) return close();
    if (ec) {
      if (ec == http::error::body_limit) {
        HttpResponse r = HttpResponse::text(413, R"({"error":{"code":"too_large","field":"body","message":"body: the request body exceeds the size limit"}})",
                                            "application/json");
        return write(r, false);
      }
      return close();
    }
    const auto& in = parser_->get();
    HttpResponse out;
    try {
      out = handler_(to_request(in, stream_.socket().remote_endpoint()));
    } catch (const std::exception& e) {
      log::error("http: handler failed for {} {}: {}", std::string(in.method_string()), std::string(in.target()), e.what());
      out = HttpResponse::text(500, R"({"error":{"code":"internal","message":"internal error"}})", "application/json");
    }
    if (out.stream) {
      stream_.expires_never();
      return start_stream_(stream_.release_socket(), std::move(out));
    }
    write(out, in.keep_alive());
  }

  void write(const HttpResponse& r, bool keep_alive) {
    auto res = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(r.status), 11);
    res->set(http::field::server, "ditstream");
    res->set(http::field::content_type, r.content_type);
    for (const auto& [k, v] : r.headers) res->set(k, v);
    res->body() = r.body;
    res->keep_alive(keep_alive);
    res->prepare_payload();
    http::async_write(stream_, *res, [self = shared_from_this(), res, keep_alive](beast::error_code ec, size_t) {
      if (ec || !keep_alive) return self->close();
      self->read();
    });
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  const HttpHandler& handler_;
  uint64_t max_body_;
  const StreamStarter& start_stream_;
};

}  // namespace

struct HttpServer::Impl {
  HttpServerOptions options;
  HttpHandler handler;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::vector<std::thread> workers;
  uint16_t port = 0;
  std::atomic<bool> stopping{false};
  std::mutex streams_mutex;
  std::list<std::pair<std::thread, std::shared_ptr<std::atomic<bool>>>> streams;  // thread, done
  StreamStarter start_stream = [this](tcp::socket socket, HttpResponse r) {
    std::lock_guard lock(streams_mutex);
    // Join streams that ended, so long-running servers do not pile up finished threads.
    for (auto it = streams.begin(); it != streams.end();) {
      if (it->second->load()) {
        it->first.join();
        it = streams.erase(it);
      } else {
        ++it;
      }
    }
    if (stopping.load()) return;
    auto done = std::make_shared<std::atomic<bool>>(false);
    streams.emplace_back(std::thread([this, done, socket = std::move(socket), r = std::move(r)]() mutable {
                           run_stream(std::move(socket), std::move(r), stopping);
                           done->store(true);
                         }),
                         done);
  };

  void accept() {
    acceptor.async_accept(asio::make_strand(io), [this](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) std::make_shared<Session>(std::move(socket), handler, options.max_body_bytes, start_stream)->run();
      accept();
    });
  }
};

HttpServer::HttpServer(HttpServerOptions options, HttpHandler handler) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->handler = std::move(handler);
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::start() {
  auto& s = *impl_;
  beast::error_code ec;
  const auto address = asio::ip::make_address(s.options.bind_address, ec);
  if (ec) throw_invalid("http", "bind", "'" + s.options.bind_address + "' is not an IP address");
  const tcp::endpoint endpoint(address, s.options.port);
  s.acceptor.open(endpoint.protocol());
  s.acceptor.set_option(asio::socket_base::reuse_address(true));
  s.acceptor.bind(endpoint, ec);
  if (ec) {
    throw Error(ErrorKind::unavailable, "http", "port",
                "cannot bind " + s.options.bind_address + ":" + std::to_string(s.options.port) + ": " + ec.message());
  }
  s.acceptor.listen();
  s.port = s.acceptor.local_endpoint().port();
  s.accept();
  for (int i = 0; i < std::max(1, s.options.threads); ++i) s.workers.emplace_back([&s] { s.io.run(); });
}

void HttpServer::stop() {
  if (!impl_ || impl_->workers.empty()) return;
  impl_->stopping.store(true);
  {
    std::lock_guard lock(impl_->streams_mutex);
    for (auto& [thread, done] : impl_->streams) thread.join();
    impl_->streams.clear();
  }
  asio::post(impl_->io, [this] {
    beast::error_code ec;
    impl_->acceptor.close(ec);
  });
  impl_->io.stop();
  for (auto& t : impl_->workers) t.join();
  impl_->workers.clear();
}

uint16_t HttpServer::port() const { return impl_->port; }

}  // namespace ditstream::web
