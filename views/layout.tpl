<!DOCTYPE html>
<html lang="{{lang}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
% if get('csp_meta'):
<meta http-equiv="Content-Security-Policy" content="{{csp_meta}}">
% end
<title>{{title if title == t('site.title') else title + ' – ' + t('site.title')}}</title>
<link rel="icon" href="data:,">
<link rel="alternate" hreflang="{{t.other}}" href="{{twin}}">
<style>{{!style}}</style>
</head>
<body>
<a class="skip" href="#main">{{t('site.skip')}}</a>
<header class="top"><div class="wrap">
<a class="brand" href="{{url['appeal']}}">{{t('site.nav_appeal')}}</a>
<nav aria-label="{{t('site.nav_appeal')}}"><ul>
<li><a href="{{url['privacy']}}">{{t('site.nav_privacy')}}</a></li>
<li><a href="{{url['mirror']}}">{{t('site.nav_mirror')}}</a></li>
<li><a href="{{twin}}" hreflang="{{t.other}}" lang="{{t.other}}">{{t('site.other_language')}}</a></li>
</ul></nav>
</div></header>
<main id="main" class="wrap">
% if demo:
<p class="demo"><strong>{{t('site.demo_notice')}}</strong></p>
% end
% if get('static_note'):
<p class="notice">{{t('mirror.static_note')}}</p>
% end
{{!base}}
</main>
<footer><div class="wrap">
<p>{{t('site.footer_note')}}</p>
% if fingerprints:
<p>{{t('site.organiser_keys')}}</p>
<ul>
% for name, fp in fingerprints:
<li>{{t('site.demo_organiser') if demo else name}}: <span class="mono">{{fp}}</span></li>
% end
</ul>
% end
</div></footer>
</body>
</html>
