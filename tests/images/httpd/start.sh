#!/bin/sh
# The test web app: busybox httpd on port 80.
#   GET /             hello from <hostname>
#   GET /who          $WHO (the test's container name), to tell servers of one host apart
#   POST /cgi-bin/who $WHO as well: busybox httpd answers POST only through CGI
#   /cgi-bin/slow?N   answers after N seconds (an upstream that answers slowly)
# ADMIN_PORT=P also serves on port P, where / and /who answer "$WHO-admin":
#   a second service of one container (named routes).
# LISTEN_AFTER=N starts listening only N seconds after the container started.
# DRAIN=N keeps serving N seconds after SIGTERM (`docker stop`), as an app
# that finishes its requests in flight does; without it httpd exits at once.
mkdir -p /www/cgi-bin
echo "hello from $(hostname)" > /www/index.html
echo "${WHO:-$(hostname)}" > /www/who
printf '#!/bin/sh\n[ -n "$CONTENT_LENGTH" ] && head -c "$CONTENT_LENGTH" >/dev/null\nprintf "Content-Type: text/plain\\r\\n\\r\\n"\ncat /www/who\n' > /www/cgi-bin/who
printf '#!/bin/sh\n[ -n "$CONTENT_LENGTH" ] && head -c "$CONTENT_LENGTH" >/dev/null\nsleep "${QUERY_STRING:-3}"\nprintf "Content-Type: text/plain\\r\\n\\r\\n"\ncat /www/who\n' > /www/cgi-bin/slow
chmod +x /www/cgi-bin/who /www/cgi-bin/slow
if [ -n "$ADMIN_PORT" ]; then
  mkdir -p /admin
  echo "${WHO:-$(hostname)}-admin" > /admin/who
  cp /admin/who /admin/index.html
  httpd -p "$ADMIN_PORT" -h /admin
fi
[ -n "$LISTEN_AFTER" ] && sleep "$LISTEN_AFTER"
if [ -z "$DRAIN" ]; then
  exec httpd -f -p 80 -h /www
fi
httpd -f -p 80 -h /www &
pid=$!
trap 'sleep "$DRAIN"; kill $pid; exit 0' TERM
wait $pid
