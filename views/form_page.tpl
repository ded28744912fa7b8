% rebase('layout.tpl', title=(t('errors.title_prefix') if e else '') + t('form.heading'))
<h1>{{t('form.heading')}}</h1>
% if e:
<div class="summary" role="alert" aria-labelledby="summary-h">
<h2 id="summary-h">{{t('errors.summary')}}</h2>
<ul>
% for name, message in e.items():
<li><a href="#{{name}}">{{message}}</a></li>
% end
</ul>
</div>
% end
% if get('notice'):
<p class="notice" role="alert">{{notice}}</p>
% end
% include('form.tpl', standalone=True)
