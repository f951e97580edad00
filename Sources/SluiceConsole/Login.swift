import Foundation
import Hummingbird
import SluiceCore

/// The login form: a token in, a session cookie (HttpOnly, SameSite=Strict) out. The form carries
/// a CSRF token that must match a cookie set with it (double submit), so another site cannot log
/// a browser in.
extension Console {
    func loginPage(_ call: Call) async throws -> Response {
        guard !readOnly else { return Self.redirect("/instances") }
        let csrf = Random.token()
        let next = Self.safeNext(call.query["next"])
        let failed = call.query["failed"] == "1"
        let body: HTML = """
            <h1>Log in</h1>\(failed ? HTML("<p class=\"error-text\" id=\"login-failed\">That token is not valid.</p>") : "")
            <form class="action" method="post" action="/login"><input type="hidden" name="csrf" value="\(csrf)">
            <input type="hidden" name="next" value="\(next)">
            <label>Token<input type="password" name="token" id="token" autocomplete="current-password" required></label>
            <button type="submit" id="login">Log in</button></form>
            """
        return Self.html(Layout.page(title: "Log in", console: self, caller: call.caller, body: body),
                         cookies: [CookieText.set(Self.loginCSRFCookie, csrf, maxAge: 3600)])
    }

    func login(_ call: Call) async throws -> Response {
        guard !readOnly else {
            throw ConsoleError(status: .forbidden, message: "the console is read-only: there is nothing to log in to")
        }
        let form = try await call.form()
        guard let sent = form["csrf"], let cookie = call.cookies[Self.loginCSRFCookie],
              ConsoleTokens.equal(Array(sent.utf8), Array(cookie.utf8)) else {
            throw ConsoleError(status: .forbidden, message: "the login form's CSRF token is missing or wrong", hint: "open /login again")
        }
        let next = Self.safeNext(form["next"])
        guard let user = config.tokens.user(token: form["token"] ?? "") else {
            logger.warning("console: a login with a wrong token was refused")
            return Self.redirect("/login" + URLText.query([("next", next), ("failed", "1")]))
        }
        let (id, _) = await sessions.create(user: user)
        logger.info("console: \(user) logged in")
        return Self.redirect(next, cookies: [CookieText.set(Self.sessionCookie, id, maxAge: Int(Sessions.lifetime)),
                                             CookieText.set(Self.loginCSRFCookie, "", maxAge: 0)])
    }

    func logout(_ call: Call) async throws -> Response {
        let form = try await call.form()
        _ = try authorize(call, form: form)
        if let id = call.caller.sessionID { await sessions.remove(id) }
        return Self.redirect("/instances", cookies: [CookieText.set(Self.sessionCookie, "", maxAge: 0)])
    }

    /// A local path to go to after logging in: never another site.
    static func safeNext(_ next: String?) -> String {
        guard let next, next.hasPrefix("/"), !next.hasPrefix("//"), !next.contains("\\"), next.utf8.count < 2048 else { return "/instances" }
        return next
    }
}
