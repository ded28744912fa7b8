% rebase('layout.tpl', title=t('mirror.title'))
<h1>{{t('mirror.title')}}</h1>
<p>{{t('mirror.intro')}}</p>
<h2>{{t('mirror.static_heading')}}</h2>
<p>{{t('mirror.static_text')}}</p>
% if bundle:
<p class="more"><a href="{{bundle}}" download>{{t('mirror.download')}}</a></p>
% else:
<p>{{t('mirror.no_bundle')}}</p>
% end
<h2>{{t('mirror.app_heading')}}</h2>
<p>{{t('mirror.app_text')}}</p>
<h2>{{t('mirror.verify_heading')}}</h2>
% if get('signed'):  # the bundle on offer: who signed it, and the commands that check and fetch exactly it
<p>{{t('mirror.signed_by', name=signed.name, fingerprint=signed.fingerprint, version=signed.version, built=t.date(signed.built_day), expires=t.date(signed.expires_day))}}</p>
<p>{{t('mirror.verify_text')}}</p>
<pre class="panel mono">pledgebox mirror verify pledgebox-mirror.tar.gz --signer {{signed.signer}} --onion {{signed.onion}}</pre>
% end
% if signers:
<p>{{t('mirror.fingerprints')}}</p>
<ul>
% for name, signer, fp in signers:
<li>{{t('site.demo_organiser') if demo else name}}: <span class="mono">{{fp}}</span></li>
% end
</ul>
% end
% if get('signed'):
<h2>{{t('mirror.pull_heading')}}</h2>
<p>{{t('mirror.pull_text')}}</p>
<pre class="panel mono">pledgebox mirror pull http://{{signed.onion}}/ /var/www/pledgebox-mirror{{"".join(f" --signer {s}" for _, s, _ in signers) or f" --signer {signed.signer}"}}</pre>
% end
