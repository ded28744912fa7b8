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
<p>{{t('mirror.verify_text')}}</p>
% for name, signer, fp in signers:
<pre class="panel mono">python app.py mirror verify pledgebox-mirror.tar.gz --signer {{signer}}</pre>
% end
% if signers:
<p>{{t('mirror.fingerprints')}}</p>
<ul>
% for name, signer, fp in signers:
<li>{{t('site.demo_organiser') if demo else name}}: <span class="mono">{{fp}}</span></li>
% end
</ul>
% end
