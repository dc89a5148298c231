package server

import (
	"fmt"
	"math"
	"net/http"

	"github.com/carto-setup/carto-setup/internal/auth"
	"github.com/carto-setup/carto-setup/web"
)

// handleSignInForm shows the sign-in form, or signs in with the token from
// the console's sign-in link and redirects so the token leaves the address
// bar and the history entry.
func (d *Deps) handleSignInForm(w http.ResponseWriter, r *http.Request) error {
	if tok := r.URL.Query().Get("token"); tok != "" {
		return d.signIn(w, r, tok)
	}
	return render(w, r, http.StatusOK, web.SignInPage(web.SignInView{}))
}

// handleSignInSubmit signs in with a pasted token.
func (d *Deps) handleSignInSubmit(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		return render(w, r, http.StatusBadRequest, web.SignInPage(web.SignInView{Error: "The form could not be read. Paste the token again."}))
	}
	return d.signIn(w, r, r.PostFormValue("token"))
}

func (d *Deps) signIn(w http.ResponseWriter, r *http.Request, token string) error {
	addr := clientAddr(r)
	if v := d.Throttle.Check(addr); !v.Allowed {
		d.refuse(r, refusedThrottled, "")
		msg := "Too many wrong tokens from your address. Wait " + count(int(math.Ceil(v.Wait.Seconds())), "second") + " and try again."
		if v.LockedOut {
			msg = "Too many wrong tokens from your address: sign-in is locked for " + count(int(math.Ceil(v.Wait.Minutes())), "more minute") + ". Run carto-setup token on the VM if you lost the token."
		}
		return render(w, r, http.StatusTooManyRequests, web.SignInPage(web.SignInView{Error: msg}))
	}
	if d.Auth.Locked() {
		d.refuse(r, refusedLocked, "")
		return render(w, r, http.StatusForbidden, web.SignInPage(web.SignInView{Error: "The wizard is locked. Run carto-setup token on the VM to open it again with a new token."}))
	}
	cookie, err := d.Auth.SignInFrom(token, addr)
	if err != nil {
		if d.Throttle.Fail(addr) {
			d.Log.Warn("sign-in locked out after repeated wrong tokens", "remote", addr, "failures", auth.MaxFailures, "for", auth.LockoutDuration)
		} else {
			d.refuse(r, refusedWrongToken, "")
		}
		return render(w, r, http.StatusUnauthorized, web.SignInPage(web.SignInView{Error: "That token is not right. Copy it again from the VM's console or from the token file."}))
	}
	d.Throttle.Succeed(addr)
	d.Log.Info("signed in", "remote", addr)
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: cookie, Path: "/",
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode,
		MaxAge: int(auth.SessionTTL.Seconds()),
	})
	return redirect(w, r, "/")
}

// handleSignOut ends this browser's session on the server, so the cookie
// stops working even if it was copied, and then clears it.
func (d *Deps) handleSignOut(w http.ResponseWriter, r *http.Request) error {
	if c, err := r.Cookie(SessionCookie); err == nil {
		if err := d.Auth.SignOut(c.Value); err != nil {
			return err
		}
	}
	d.Log.Info("signed out", "remote", clientAddr(r))
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	return redirect(w, r, "/signin")
}

// count says "1 second" or "2 seconds".
func count(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
