#include "web/api/http_server.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
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

// One connection: read a request, answer it, repeat while keep-alive.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const HttpHandler& handler, uint64_t max_body)
      : stream_(std::move(socket)), handler_(handler), max_body_(max_body) {}

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
        HttpResponse r = HttpResponse::text(413, R"({"error":{"code":"too_large","message":"request body exceeds the limit"}})",
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
};

}  // namespace

struct HttpServer::Impl {
  HttpServerOptions options;
  HttpHandler handler;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::vector<std::thread> workers;
  uint16_t port = 0;

  void accept() {
    acceptor.async_accept(asio::make_strand(io), [this](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) std::make_shared<Session>(std::move(socket), handler, options.max_body_bytes)->run();
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
