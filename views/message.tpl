% rebase('layout.tpl', title=heading)
<h1>{{heading}}</h1>
<p>{{text}}</p>
<p class="more"><a href="{{url['appeal']}}">{{t('site.back_home')}}</a></p>
